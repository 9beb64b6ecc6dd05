"""One interface over the log's two databases: a Database opens Sessions that speak `?` SQL.

The log's SQL is written once, with `?` placeholders and portable types; a Dialect supplies what
differs (column types, value conversions, append-only guards, the migration lock) and a Session
wraps one driver connection. Driver errors come out as LogUnavailable (cannot reach or write the
database: the caller should answer "unavailable" and try again later) or LogError (anything else).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

Row = tuple[Any, ...]


class LogError(Exception):
    """The verdict log cannot do what was asked (bad data, schema too new, a bug)."""


class LogUnavailable(LogError):
    """The database cannot be reached or cannot take a write right now; retrying may succeed."""


class ConnectionLost(LogUnavailable):
    """The connection broke (server restart, network, idle timeout): a new one may work at once."""


class CommitUncertain(LogUnavailable):
    """The connection failed during COMMIT: the transaction may or may not have landed."""


@dataclass(frozen=True)
class ColumnTypes:
    """SQL types of the log's columns in one dialect."""

    uuid: str
    time: str
    date: str
    blob: str
    bigint: str


class Dialect(ABC):
    """What differs between SQLite and PostgreSQL, as the log sees it."""

    name: str
    types: ColumnTypes

    @abstractmethod
    def append_only_guards(self, tables: Sequence[str]) -> list[str]:
        """DDL that makes UPDATE and DELETE on `tables` fail (defence in depth; verify is the proof)."""

    @abstractmethod
    def erasure_guards(self, columns: Sequence[str]) -> list[str]:
        """DDL that lets one UPDATE through the guards on `verdicts`: a v2 record's request set to
        '' (erased), every other column of `columns` unchanged; and guards the erasures table."""

    @abstractmethod
    def table_exists(self) -> str:
        """A query of one parameter, a table name, that returns a row when the table exists."""

    def migration_lock(self) -> str | None:
        """A statement serialising concurrent migrations, if the transaction alone does not."""
        return None

    def id_param(self, value: str) -> Any:
        return value

    def id_value(self, value: Any) -> str:
        return str(value)

    @abstractmethod
    def time_param(self, value: datetime) -> Any: ...

    @abstractmethod
    def time_value(self, value: Any) -> datetime: ...

    @abstractmethod
    def date_param(self, value: date) -> Any: ...

    @abstractmethod
    def date_value(self, value: Any) -> date: ...


class Session(ABC):
    """One open connection. Statements outside `transaction()` commit on their own."""

    dialect: Dialect

    @abstractmethod
    def execute(self, sql: str, params: Sequence[Any] = ()) -> None: ...

    @abstractmethod
    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None: ...

    @abstractmethod
    def insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Insert many rows at once, the fastest way the database offers."""

    @abstractmethod
    def all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]: ...

    def one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        rows = self.all(sql, params)
        return rows[0] if rows else None

    @abstractmethod
    def transaction(self) -> AbstractContextManager[None]:
        """A write transaction: committed (durably) on exit, rolled back on an exception."""

    @abstractmethod
    def snapshot(self) -> AbstractContextManager[None]:
        """A read-only transaction: every read inside sees the same committed state."""

    @abstractmethod
    def close(self) -> None: ...


class Database(ABC):
    """Where a verdict log lives; opens sessions on it."""

    dialect: Dialect

    @abstractmethod
    def connect(self) -> Session:
        """A new session (raises LogUnavailable when the database cannot be reached)."""

    @abstractmethod
    def describe(self) -> str:
        """Where the log is, for messages (never with a password)."""
