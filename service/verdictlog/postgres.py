"""The shared backend: PostgreSQL through psycopg 3, for many replicas writing one log.

Each session sets `synchronous_commit = on`, so a COMMIT returns only once the WAL is flushed
to disk (and to synchronous standbys, if the server has any), whatever the server's default.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from tamis.service.verdictlog.store import (
    ColumnTypes,
    CommitUncertain,
    ConnectionLost,
    Database,
    Dialect,
    LogError,
    LogUnavailable,
    Row,
    Session,
)

#: Batches of more rows than this are inserted by COPY.
COPY_FROM = 16
#: Seconds to wait for a connection when the DSN does not say.
CONNECT_TIMEOUT = 5
#: A lost server is noticed within about this many seconds, even in the middle of a statement.
KEEPALIVE = {"keepalives": 1, "keepalives_idle": 5, "keepalives_interval": 2, "keepalives_count": 3}


class PostgresDialect(Dialect):
    name = "postgresql"
    types = ColumnTypes(uuid="uuid", time="timestamptz", date="date", blob="bytea", bigint="bigint")

    def append_only_guards(self, tables: Sequence[str]) -> list[str]:
        function = (
            "CREATE FUNCTION tamis_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "RAISE EXCEPTION 'the verdict log is append-only (% on %)', TG_OP, TG_TABLE_NAME; END $$"
        )
        return [
            function,
            *(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION tamis_append_only()"
                for table in tables
            ),
            *(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION tamis_append_only()"
                for table in tables
            ),
        ]

    def erasure_guards(self, columns: Sequence[str]) -> list[str]:
        # Nested IFs: NEW.request exists only in verdicts rows, and PL/pgSQL may plan the whole
        # condition before it evaluates any of it.
        function = (
            "CREATE OR REPLACE FUNCTION tamis_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "IF TG_OP = 'UPDATE' AND TG_TABLE_NAME = 'verdicts' THEN "
            "IF NEW.request = '' AND OLD.request_hash IS NOT NULL "
            "AND (to_jsonb(NEW) - 'request') = (to_jsonb(OLD) - 'request') THEN RETURN NEW; END IF; END IF; "
            "RAISE EXCEPTION 'the verdict log is append-only (% on %)', TG_OP, TG_TABLE_NAME; END $$"
        )
        return [function, *self.append_only_guards(("erasures",))[1:]]

    def table_exists(self) -> str:
        return "SELECT 1 WHERE to_regclass(?) IS NOT NULL"

    def migration_lock(self) -> str:
        return "SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.tamis-verdict-log'))"

    def time_param(self, value: datetime) -> Any:
        return value

    def time_value(self, value: Any) -> datetime:
        moment: datetime = value
        return moment.astimezone(UTC)

    def date_param(self, value: date) -> Any:
        return value

    def date_value(self, value: Any) -> date:
        day: date = value
        return day


def _wrap(error: psycopg.Error, connection: psycopg.Connection[Any] | None = None) -> LogError:
    if connection is not None and connection.broken:
        return ConnectionLost(f"PostgreSQL: {error}")
    if isinstance(error, psycopg.OperationalError | psycopg.InterfaceError):
        return LogUnavailable(f"PostgreSQL: {error}")
    return LogError(f"PostgreSQL: {error}")


def _placeholders(sql: str, params: Sequence[Any] | None) -> str:
    return sql.replace("?", "%s") if params else sql


class PostgresSession(Session):
    def __init__(self, connection: psycopg.Connection[Any], dialect: PostgresDialect) -> None:
        self._connection = connection
        self.dialect = dialect

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        try:
            self._connection.execute(_placeholders(sql, params), params or None)
        except psycopg.Error as error:
            raise _wrap(error, self._connection) from error

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        try:
            with self._connection.cursor() as cursor:
                cursor.executemany(sql.replace("?", "%s"), rows)
        except psycopg.Error as error:
            raise _wrap(error, self._connection) from error

    def insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """A few rows by pipelined INSERT (COPY's set-up costs more round trips than they do);
        a batch by COPY, far cheaper per row."""
        if not rows:
            return
        if len(rows) <= COPY_FROM:
            marks = ", ".join(["%s"] * len(columns))
            self.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)
            return
        try:
            with (
                self._connection.cursor() as cursor,
                cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy,
            ):
                for row in rows:
                    copy.write_row(row)
        except psycopg.Error as error:
            raise _wrap(error, self._connection) from error

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        try:
            return self._connection.execute(_placeholders(sql, params), params or None).fetchall()
        except psycopg.Error as error:
            raise _wrap(error, self._connection) from error

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self.execute("BEGIN")
        try:
            yield
        except BaseException:
            with contextlib.suppress(psycopg.Error):
                self._connection.execute("ROLLBACK")
            raise
        try:
            self._connection.execute("COMMIT")
        except psycopg.Error as error:
            raise CommitUncertain(f"PostgreSQL: {error}") from error

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        try:
            self._connection.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        except psycopg.Error as error:
            raise _wrap(error, self._connection) from error
        try:
            yield
        finally:
            with contextlib.suppress(psycopg.Error):
                self._connection.execute("ROLLBACK")

    def close(self) -> None:
        self._connection.close()


class PostgresDatabase(Database):
    """A log in the PostgreSQL database (and schema: `options=-csearch_path=…`) a DSN names."""

    def __init__(self, dsn: str, *, read_only: bool = False) -> None:
        self.dsn = dsn
        self.read_only = read_only
        self.dialect: PostgresDialect = PostgresDialect()
        try:
            given = conninfo_to_dict(dsn)
        except psycopg.ProgrammingError as error:
            raise ValueError(f"not a PostgreSQL DSN: {error}") from error
        defaults: dict[str, Any] = {"connect_timeout": CONNECT_TIMEOUT, **KEEPALIVE}
        self._conninfo = make_conninfo(dsn, **{k: v for k, v in defaults.items() if k not in given})

    def connect(self) -> Session:
        try:
            connection = psycopg.connect(self._conninfo, autocommit=True)
            connection.execute("SET synchronous_commit TO on")
            if self.read_only:
                connection.execute("SET default_transaction_read_only TO on")
        except psycopg.Error as error:
            raise _wrap(error) from error
        return PostgresSession(connection, self.dialect)

    def describe(self) -> str:
        parts = conninfo_to_dict(self.dsn)
        parts.pop("password", None)
        return "postgresql: " + " ".join(f"{key}={value}" for key, value in sorted(parts.items()))
