"""Where the log is: `sqlite:PATH`, a plain path, or a PostgreSQL DSN (URL or key=value form)."""

from __future__ import annotations

import os
import re
from pathlib import Path

from tamis.service.verdictlog.postgres import PostgresDatabase
from tamis.service.verdictlog.sqlite import SqliteDatabase
from tamis.service.verdictlog.store import Database

DEFAULT_PATH = Path("var/verdicts.sqlite3")
_KEY_VALUE_DSN = re.compile(r"^\s*(host|hostaddr|port|dbname|user|service)\s*=")


def default_location() -> str:
    """$TAMIS_LOG_DSN, else the server's $TAMIS_LOG (unless off), else the SQLite file under ./var/."""
    served = os.environ.get("TAMIS_LOG", "")
    return os.environ.get("TAMIS_LOG_DSN") or (served if served not in ("", "off") else str(DEFAULT_PATH))


#: When a commit counts as done: `full`, once it is on disk (fsync); `normal`, once SQLite has
#: it (fsync at checkpoints: a power cut may lose the newest verdicts). See sqlite.py.
SYNC_MODES = ("full", "normal")


def is_postgres(location: str) -> bool:
    return location.startswith(("postgresql://", "postgres://")) or bool(_KEY_VALUE_DSN.match(location))


def open_database(
    location: str, create: bool = True, *, read_only: bool = False, sync: str = "full"
) -> Database:
    """The database `location` names; a SQLite file is created only when `create` is set;
    `read_only` sessions can only read (SQLite opens the file read-only); `sync` (SYNC_MODES)
    other than full is for SQLite alone."""
    if sync not in SYNC_MODES:
        raise ValueError(f"expected one of {', '.join(SYNC_MODES)}, got {sync[:20]!r}")
    if is_postgres(location):
        if sync != "full":
            raise ValueError("only a SQLite verdict log can be written with log_sync normal")
        return PostgresDatabase(location, read_only=read_only)
    path = location.removeprefix("sqlite:")
    if not path:
        raise ValueError("sqlite: needs a file path, e.g. sqlite:var/verdicts.sqlite3")
    return SqliteDatabase(Path(path), create=create, read_only=read_only, synchronous=sync.upper())
