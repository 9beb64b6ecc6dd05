"""Fixtures and helpers shared by the verdict log tests (this module holds no tests).

Every log test runs on both backends: a SQLite file in the test's tmp_path, and a PostgreSQL
schema of its own (random name per run and per test, dropped afterwards) on the real server
named by $TAMIS_TEST_PG_DSN. An unreachable server makes those tests fail, never skip.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import secrets
import select
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import psycopg
import pytest

from tamis.engine import Bundle, Evaluator
from tamis.engine.listing import validate_listing
from tamis.service.verdictlog import (
    AuditLog,
    Database,
    LogUnavailable,
    VerdictLog,
    VerdictRecord,
    open_database,
)
from tests.conftest import samples

PG_DSN = os.environ.get("TAMIS_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
BACKENDS = ("sqlite", "postgresql")
AS_OF = date(2025, 11, 20)

T = TypeVar("T")

_RUN = secrets.token_hex(4)
_SCHEMAS = itertools.count()


@contextmanager
def pg_schema(dsn: str = PG_DSN) -> Iterator[str]:
    """A fresh schema; yields a DSN whose sessions use it. Dropped with everything in it."""
    name = f"tamis_test_{_RUN}_{next(_SCHEMAS)}"
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {name}")
    try:
        yield f"{dsn}{'&' if '?' in dsn else '?'}options={quote(f'-csearch_path={name}')}"
    finally:
        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute(f"DROP SCHEMA {name} CASCADE")


@pytest.fixture(params=BACKENDS)
def log_location(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Where an empty log lives: `sqlite:PATH` or a PostgreSQL DSN (its own schema)."""
    if request.param == "sqlite":
        yield f"sqlite:{tmp_path / 'verdicts.sqlite3'}"
    else:
        with pg_schema() as dsn:
            yield dsn


@pytest.fixture
def log_database(log_location: str) -> Database:
    return open_database(log_location)


@pytest.fixture
def log(log_database: Database, shipped_bundle: Bundle) -> Iterator[VerdictLog]:
    """A writer on the empty log, with the shipped bundle stored."""
    writer = VerdictLog(log_database, "test")
    writer.store_bundle(shipped_bundle)
    yield writer
    writer.close()


@pytest.fixture
def audit(log_database: Database) -> Iterator[AuditLog]:
    reader = AuditLog(log_database)
    yield reader
    reader.close()


def is_postgres(location: str) -> bool:
    return location.startswith("postgresql://")


def records(
    evaluator: Evaluator,
    listings: Iterable[dict[str, Any]] | None = None,
    as_of: date = AS_OF,
    caller: str = "test",
) -> list[VerdictRecord]:
    """Judge listings (default: the shared samples) and turn the verdicts into log records."""
    fields = evaluator.bundle.policy_set.fields
    return [
        VerdictRecord.of(evaluator.evaluate(listing, as_of), validate_listing(listing, fields=fields), caller)
        for listing in (samples() if listings is None else listings)
    ]


def relabel(listing: dict[str, Any], listing_id: str, seller_id: str | None = None) -> dict[str, Any]:
    """A copy of `listing` with another id (and seller id)."""
    copy = dict(listing, id=listing_id)
    if seller_id is not None:
        copy["seller"] = dict(listing.get("seller") or {}, id=seller_id)
    return copy


def eventually(action: Callable[[], T], patience: float = 60.0) -> T:
    """`action()`, tried again while it raises LogUnavailable (a database coming back)."""
    deadline = time.monotonic() + patience
    while True:
        try:
            return action()
        except LogUnavailable:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def tamper(location: str, *statements: tuple[str, Sequence[Any]]) -> None:
    """Run `?` SQL statements as an intruder would: past the append-only guards."""
    if is_postgres(location):
        with psycopg.connect(location, autocommit=True) as connection:
            connection.execute("SET session_replication_role = replica")  # no triggers, no FK checks
            for sql, params in statements:
                connection.execute(sql.replace("?", "%s"), params)
        return
    connection = sqlite3.connect(location.removeprefix("sqlite:"), isolation_level=None)
    try:
        guards = connection.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'").fetchall()
        connection.execute("BEGIN")
        for name, _ in guards:
            connection.execute(f"DROP TRIGGER {name}")
        for sql, params in statements:
            connection.execute(sql, params)
        for _, sql in guards:
            connection.execute(sql)
        connection.execute("COMMIT")
    finally:
        connection.close()


@contextmanager
def writes_blocked(location: str) -> Iterator[None]:
    """Another session holds a lock that stops every verdict insert until the block ends."""
    if is_postgres(location):
        with psycopg.connect(location) as connection:
            connection.execute("LOCK TABLE verdicts IN SHARE MODE")
            yield
            connection.rollback()
        return
    connection = sqlite3.connect(location.removeprefix("sqlite:"), isolation_level=None)
    try:
        connection.execute("BEGIN IMMEDIATE")
        yield
        connection.execute("ROLLBACK")
    finally:
        connection.close()


class TcpProxy:
    """A TCP relay to a server that can be stopped (refusing and cutting every connection) and
    started again on the same port: a database that goes away without touching the database."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self.port = 0
        self.start()

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def stop(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
            sockets, self._open = self._open, set()
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept()
            listener.close()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    @contextmanager
    def stopped(self) -> Iterator[None]:
        self.stop()
        try:
            yield
        finally:
            self.start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open.update((client, upstream))
            threading.Thread(target=self._relay, args=(client, upstream), daemon=True).start()

    def _relay(self, client: socket.socket, upstream: socket.socket) -> None:
        peers = {client: upstream, upstream: client}
        try:
            while True:
                ready, _, _ = select.select(list(peers), [], [], 1.0)
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    peers[sock].sendall(data)
        except (OSError, ValueError):
            return
        finally:
            for sock in peers:
                sock.close()
            with self._lock:
                self._open.difference_update(peers)
