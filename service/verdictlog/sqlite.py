"""The embedded backend: one SQLite file in WAL mode, zero set-up.

Durability: `synchronous=FULL` by default. In WAL mode, NORMAL skips the fsync at each commit
and syncs only at checkpoints: a committed verdict survives a crash of the process but may be
lost when the machine loses power or the kernel crashes. The log promises that an acknowledged
verdict is never lost, so each commit waits for its fsync; group commit (one transaction per
batch) spreads that cost over every verdict of the batch. NORMAL is there for an operator who
chooses it (`log_sync = "normal"`): a commit then costs no fsync, and what a power cut can lose
is the newest verdicts of each chain, never a link inside one (WAL commits are atomic, and a
writer's head is updated in the same transaction as its verdicts).

Several server processes (`--workers`) write one file. SQLite lets one write at a time and
makes the others retry on a sleeping timer (1 ms, then 2, 5, … up to 100 ms), which cost more
than half the throughput of two workers; so writers first take an exclusive lock on a file next
to the database, which the kernel hands over the moment it is released.

Checkpoints (copying committed WAL pages into the database file, with an fsync of it) run on a
thread of their own, right after commits: SQLite's automatic checkpoint runs inside the commit
that fills the WAL past 1,000 pages, and every caller waiting on that commit paid for megabytes
of copying and two fsyncs. It stays on as a backstop, and finds little to do. Durability is
unchanged: a commit still returns only once its WAL frames are fsynced.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any, BinaryIO

from tamis.service.verdictlog.records import format_time
from tamis.service.verdictlog.store import (
    ColumnTypes,
    CommitUncertain,
    Database,
    Dialect,
    LogError,
    LogUnavailable,
    Row,
    Session,
)

#: Seconds a writer waits for another process's write lock before giving up.
BUSY_TIMEOUT = 10.0
#: Seconds the background checkpoint rests after each run, so that it runs once per few commits.
CHECKPOINT_REST = 0.05
#: SQLite's `synchronous` settings a log may be written with: FULL (fsync at every commit) or
#: NORMAL (fsync at checkpoints only; see above).
SYNCHRONOUS = ("FULL", "NORMAL")


class SqliteDialect(Dialect):
    name = "sqlite"
    types = ColumnTypes(uuid="TEXT", time="TEXT", date="TEXT", blob="BLOB", bigint="INTEGER")

    def append_only_guards(self, tables: Sequence[str]) -> list[str]:
        return [
            f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
            "BEGIN SELECT RAISE(ABORT, 'the verdict log is append-only'); END"
            for table in tables
            for verb in ("UPDATE", "DELETE")
        ]

    def erasure_guards(self, columns: Sequence[str]) -> list[str]:
        same = " AND ".join(f"NEW.{column} IS OLD.{column}" for column in columns if column != "request")
        return [
            "DROP TRIGGER verdicts_no_update",
            "CREATE TRIGGER verdicts_no_update BEFORE UPDATE ON verdicts "
            f"WHEN NOT (NEW.request = '' AND OLD.request_hash IS NOT NULL AND {same}) "
            "BEGIN SELECT RAISE(ABORT, 'the verdict log is append-only: only a request can be erased'); END",
            *self.append_only_guards(("erasures",)),
        ]

    def table_exists(self) -> str:
        return "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"

    def time_param(self, value: datetime) -> Any:
        return format_time(value)

    def time_value(self, value: Any) -> datetime:
        return datetime.fromisoformat(value)  # "…Z": UTC (strptime would cost ten times more)

    def date_param(self, value: date) -> Any:
        return value.isoformat()

    def date_value(self, value: Any) -> date:
        return date.fromisoformat(value)


def _wrap(error: sqlite3.Error) -> LogError:
    if isinstance(error, sqlite3.OperationalError):
        return LogUnavailable(f"SQLite: {error}")
    return LogError(f"SQLite: {error}")


class _Checkpointer:
    """Runs PASSIVE checkpoints (they never wait for, nor block, readers and writers) on its own
    connection and thread, once asked after a commit; failures are left to the next run."""

    def __init__(self, path: Path) -> None:
        self._connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._connection.execute("PRAGMA synchronous = FULL")  # fsync the database file
        self._wanted = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="tamis-sqlite-checkpoint", daemon=True)
        self._thread.start()

    def committed(self) -> None:
        self._wanted.set()

    def _run(self) -> None:
        while True:
            self._wanted.wait()
            if self._stopping:
                return
            self._wanted.clear()
            with contextlib.suppress(sqlite3.Error):  # e.g. another process's checkpoint runs
                self._connection.execute("PRAGMA wal_checkpoint(PASSIVE)")
            time.sleep(CHECKPOINT_REST)

    def close(self) -> None:
        self._stopping = True
        self._wanted.set()
        self._thread.join()
        self._connection.close()


class SqliteSession(Session):
    def __init__(
        self,
        connection: sqlite3.Connection,
        dialect: SqliteDialect,
        lock: BinaryIO | None,
        path: Path | None = None,
    ) -> None:
        """`path`: the database file, for the checkpoint thread a writing session starts."""
        self._connection = connection
        self.dialect = dialect
        self._lock = lock
        self._path = path
        self._checkpointer: _Checkpointer | None = None

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        try:
            self._connection.execute(sql, params)
        except sqlite3.Error as error:
            raise _wrap(error) from error

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        try:
            self._connection.executemany(sql, rows)
        except sqlite3.Error as error:
            raise _wrap(error) from error

    def insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        marks = ", ".join("?" * len(columns))
        self.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        try:
            return self._connection.execute(sql, params).fetchall()
        except sqlite3.Error as error:
            raise _wrap(error) from error

    @contextmanager
    def transaction(self) -> Iterator[None]:
        if self._lock is None:
            raise LogError("this verdict log was opened read-only")
        fcntl.flock(self._lock, fcntl.LOCK_EX)  # queue behind other writing processes
        try:
            yield from self._transaction()
        finally:
            fcntl.flock(self._lock, fcntl.LOCK_UN)

    def _transaction(self) -> Iterator[None]:
        try:
            self._connection.execute("BEGIN IMMEDIATE")  # take the write lock now, not mid-way
        except sqlite3.Error as error:
            raise _wrap(error) from error
        try:
            yield
        except BaseException:
            self._connection.rollback()
            raise
        try:
            self._connection.execute("COMMIT")
        except sqlite3.Error as error:
            self._connection.rollback()
            raise CommitUncertain(f"SQLite: {error}") from error
        if self._checkpointer is None and self._path is not None:
            self._checkpointer = _Checkpointer(self._path)
        if self._checkpointer is not None:
            self._checkpointer.committed()

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        try:
            self._connection.execute("BEGIN")  # WAL: the snapshot is taken at the first read
        except sqlite3.Error as error:
            raise _wrap(error) from error
        try:
            yield
        finally:
            self._connection.rollback()

    def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.close()
        self._connection.close()
        if self._lock is not None:
            self._lock.close()


class SqliteDatabase(Database):
    """A log in one SQLite file (created with its directory when `create` is set).

    The log holds personal data: a new file is created mode 0600 (SQLite gives its -wal and -shm
    files the same mode) in a directory created 0700. `read_only` opens the file for reading
    alone (an auditor's copy, even on read-only media): nothing is created, locked or migrated.
    """

    def __init__(
        self,
        path: Path,
        create: bool = True,
        busy_timeout: float = BUSY_TIMEOUT,
        *,
        read_only: bool = False,
        synchronous: str = "FULL",
    ) -> None:
        if synchronous not in SYNCHRONOUS:
            raise ValueError(f"synchronous must be one of {', '.join(SYNCHRONOUS)}, got {synchronous[:20]!r}")
        self.path = path
        self.create = create and not read_only
        self.read_only = read_only
        self.busy_timeout = busy_timeout
        self.synchronous = synchronous
        self.dialect: SqliteDialect = SqliteDialect()

    def connect(self) -> Session:
        if not self.path.exists():
            if not self.create:
                raise LogError(f"no verdict log at {self.path}")
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            with contextlib.suppress(FileExistsError):  # another process made it meanwhile
                os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        if self.read_only:
            return self._connect_read_only()
        lock_path = self.path.with_name(self.path.name + ".lock")
        lock = os.fdopen(os.open(lock_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab")
        try:
            # Switching a new file to WAL fails at once ("database is locked", no busy wait)
            # while another process does the same: processes starting together take turns.
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                connection = sqlite3.connect(
                    self.path, isolation_level=None, check_same_thread=False, timeout=self.busy_timeout
                )
                connection.execute("PRAGMA journal_mode = WAL")
                connection.execute(f"PRAGMA synchronous = {self.synchronous}")
                connection.execute("PRAGMA foreign_keys = ON")
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
        except sqlite3.Error as error:
            lock.close()
            raise _wrap(error) from error
        return SqliteSession(connection, self.dialect, lock, self.path)

    def _connect_read_only(self) -> Session:
        try:
            connection = sqlite3.connect(
                f"{self.path.resolve().as_uri()}?mode=ro",
                uri=True,
                check_same_thread=False,
                isolation_level=None,
            )
        except sqlite3.Error as error:
            raise _wrap(error) from error
        return SqliteSession(connection, self.dialect, None)

    def describe(self) -> str:
        return f"sqlite:{self.path}" + (
            "" if self.synchronous == "FULL" else f" (synchronous={self.synchronous})"
        )
