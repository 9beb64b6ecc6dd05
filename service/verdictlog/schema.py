"""The log's tables, created or migrated on open; `schema_version` records what was applied.

Verdict rows carry the hashed record. Matched policies and cited (instrument, article) pairs
go to two side tables, keyed (verdict_id, …) so that verify can walk them in verdict order, and
indexed (policy, verdict_id) / (instrument, article, verdict_id) / (instrument, verdict_id) so
that "newest verdicts citing X" is one backward index range scan that stops after a page, on
both databases (an array column with a GIN index could find the rows but not in id order). The
listing, seller and decision indexes end with the id for the same reason, and time ranges are id
ranges (UUIDv7). Bundles are stored once per digest, their sources one row per file.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from tamis.service.verdictlog.rows import COLUMNS
from tamis.service.verdictlog.store import Dialect, LogError, Session

SCHEMA_VERSION = 2

#: Tables whose rows are never changed or removed once written (but for erasure: see chain.py).
APPEND_ONLY = ("bundles", "bundle_sources", "verdicts", "verdict_policies", "verdict_grounds")


def _version_1(dialect: Dialect) -> list[str]:
    t = dialect.types
    return [
        f"""CREATE TABLE writers (
            id {t.uuid} PRIMARY KEY,
            started_at {t.time} NOT NULL,
            host TEXT NOT NULL,
            pid {t.bigint} NOT NULL,
            label TEXT NOT NULL,
            head_seq {t.bigint} NOT NULL,
            head_hash TEXT NOT NULL)""",
        f"""CREATE TABLE bundles (
            digest TEXT PRIMARY KEY,
            stored_at {t.time} NOT NULL)""",
        f"""CREATE TABLE bundle_sources (
            digest TEXT NOT NULL REFERENCES bundles (digest),
            path TEXT NOT NULL,
            content {t.blob} NOT NULL,
            PRIMARY KEY (digest, path))""",
        f"""CREATE TABLE verdicts (
            id {t.uuid} PRIMARY KEY,
            writer_id {t.uuid} NOT NULL REFERENCES writers (id),
            seq {t.bigint} NOT NULL,
            logged_at {t.time} NOT NULL,
            caller TEXT NOT NULL,
            listing_id TEXT NOT NULL,
            seller_id TEXT,
            as_of {t.date} NOT NULL,
            request TEXT NOT NULL,
            decision TEXT NOT NULL,
            matches TEXT NOT NULL,
            bundle_digest TEXT NOT NULL REFERENCES bundles (digest),
            prev_hash TEXT NOT NULL,
            hash TEXT NOT NULL,
            UNIQUE (writer_id, seq))""",
        "CREATE INDEX verdicts_by_listing ON verdicts (listing_id, id)",
        "CREATE INDEX verdicts_by_seller ON verdicts (seller_id, id)",
        "CREATE INDEX verdicts_by_decision ON verdicts (decision, id)",
        f"""CREATE TABLE verdict_policies (
            verdict_id {t.uuid} NOT NULL REFERENCES verdicts (id),
            policy TEXT NOT NULL,
            PRIMARY KEY (verdict_id, policy))""",
        "CREATE INDEX verdict_policies_by_policy ON verdict_policies (policy, verdict_id)",
        f"""CREATE TABLE verdict_grounds (
            verdict_id {t.uuid} NOT NULL REFERENCES verdicts (id),
            instrument TEXT NOT NULL,
            article TEXT NOT NULL,
            PRIMARY KEY (verdict_id, instrument, article))""",
        "CREATE INDEX verdict_grounds_by_article ON verdict_grounds (instrument, article, verdict_id)",
        "CREATE INDEX verdict_grounds_by_instrument ON verdict_grounds (instrument, verdict_id)",
        *dialect.append_only_guards(APPEND_ONLY),
    ]


def _version_2(dialect: Dialect) -> list[str]:
    """The claimed caller beside the authenticated one; the request's hash (chain format v2), so
    that the request can be erased without breaking the chain; erasures, recorded."""
    t = dialect.types
    return [
        "ALTER TABLE verdicts ADD COLUMN claimed_caller TEXT",
        "ALTER TABLE verdicts ADD COLUMN request_hash TEXT",
        f"""CREATE TABLE erasures (
            id {t.uuid} PRIMARY KEY,
            erased_at {t.time} NOT NULL,
            reason TEXT NOT NULL,
            seller_id TEXT,
            before_time {t.time},
            verdicts {t.bigint} NOT NULL)""",
        *dialect.erasure_guards(COLUMNS),
    ]


MIGRATIONS: dict[int, Callable[[Dialect], list[str]]] = {1: _version_1, 2: _version_2}


def require_log(session: Session, where: str) -> None:
    """Refuse to read a database that holds no verdict log (a mistyped DSN or path)."""
    if session.one(session.dialect.table_exists(), ("schema_version",)) is None:
        raise LogError(f"no verdict log in {where}")


def schema_version(session: Session) -> int:
    """The version of the log's schema; 0 for a database without a log."""
    if session.one(session.dialect.table_exists(), ("schema_version",)) is None:
        return 0
    row = session.one("SELECT max(version) FROM schema_version")
    return int(row[0]) if row and row[0] is not None else 0


def require_current(session: Session, where: str) -> None:
    """Refuse a log whose schema this code cannot read, without changing it (readers never
    migrate: an auditor's copy may be read-only, and reading must not need the owner's rights)."""
    version = schema_version(session)
    if version < SCHEMA_VERSION:
        raise LogError(
            f"the verdict log in {where} has schema version {version}; this Tamis reads version "
            f"{SCHEMA_VERSION}: run `tamis audit migrate` on it as the database owner"
        )
    if version > SCHEMA_VERSION:
        raise LogError(_too_new(version))


def _too_new(version: int) -> str:
    return (
        f"the verdict log's schema is version {version}; this Tamis knows versions up to "
        f"{SCHEMA_VERSION}: upgrade Tamis"
    )


def migrate(session: Session, now: datetime) -> int:
    """Bring the schema up to SCHEMA_VERSION (safe when several processes start at once). An
    up-to-date log is left alone without a write, so a role that may not change the schema (the
    server's runtime role) can open it."""
    if schema_version(session) == SCHEMA_VERSION:
        return SCHEMA_VERSION
    dialect = session.dialect
    with session.transaction():
        lock = dialect.migration_lock()
        if lock:
            session.execute(lock)
        session.execute(
            "CREATE TABLE IF NOT EXISTS schema_version "
            f"(version INTEGER PRIMARY KEY, applied_at {dialect.types.time} NOT NULL)"
        )
        row = session.one("SELECT max(version) FROM schema_version")
        current = int(row[0]) if row and row[0] is not None else 0
        if current > SCHEMA_VERSION:
            raise LogError(_too_new(current))
        for version in range(current + 1, SCHEMA_VERSION + 1):
            for statement in MIGRATIONS[version](dialect):
                session.execute(statement)
            session.execute(
                "INSERT INTO schema_version (version, applied_at) VALUES (?, ?)",
                (version, dialect.time_param(now)),
            )
    return SCHEMA_VERSION
