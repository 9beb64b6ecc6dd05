"""Appending verdicts: each process is a writer with its own hash chain, writing in group commits.

`append(records)` returns the new verdict ids (`receipts`: ids and places in the chain) only once
their rows are committed, so a server
may acknowledge a verdict as soon as the call returns. Calls from many threads (unary requests)
share transactions: a caller that finds no commit under way writes everything queued so far
in one transaction while the others queue, so the cost of a durable commit (an fsync) is paid
once per group rather than once per verdict. A batch or a stream's window is one append.
Waiting callers sleep on a condition and are all woken when their group is written.

A failed commit does not move the chain. The connection is dropped; the next append reconnects,
re-reads this writer's head from the database (the failed COMMIT may in fact have landed) and
goes on from there, so the chain stays unbroken whatever the database did.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tamis.engine import Bundle, SourceTree
from tamis.service.verdictlog.chain import GENESIS_HASH, chain_hash
from tamis.service.verdictlog.ids import IdClock
from tamis.service.verdictlog.records import IndexEntries, Receipt, VerdictRecord, format_time
from tamis.service.verdictlog.rows import COLUMNS, to_row
from tamis.service.verdictlog.schema import migrate
from tamis.service.verdictlog.store import ConnectionLost, Database, LogError, LogUnavailable, Session

#: Seconds between connection attempts while the database is down: from MIN, doubling to MAX.
MIN_BACKOFF = 0.1
MAX_BACKOFF = 5.0

#: Told of each group commit: its seconds, its verdicts, whether it failed (e.g. for metrics).
CommitObserver = Callable[[float, int, bool], None]


@dataclass
class _Ticket:
    """One caller's records, waiting for the commit that writes them."""

    records: Sequence[VerdictRecord]
    done: bool = False
    receipts: list[Receipt] = field(default_factory=list)
    error: LogError | None = None


class VerdictLog:
    """The appending side of the log for one writer (one server process)."""

    def __init__(
        self,
        database: Database,
        label: str = "",
        *,
        connect: bool = True,
        observer: CommitObserver | None = None,
    ) -> None:
        """A new writer; with `connect`, open the database now (create or migrate the schema,
        register the writer) and raise if that fails, else leave it to connect() or the first
        append."""
        self.database = database
        self.label = label
        self._clock = IdClock()
        self.writer_id, self.started_at = self._clock.next()
        self._session: Session | None = None
        self._head = (0, GENESIS_HASH)
        self._stored_bundles: set[str] = set()
        self._pending_bundles: dict[str, SourceTree] = {}
        self._queue: list[_Ticket] = []
        self._pending = 0
        self._leading = False  # a caller is writing a group: the others wait for it
        self._state = threading.Condition()  # guards the fields above and the bundle sets
        self.commits = 0  # transactions that wrote verdicts or bundles: verdicts / commits = group size
        self._retry_at = 0.0  # while the database is down, appends before this fail at once
        self._backoff = MIN_BACKOFF
        self._down = ""
        self._observer = observer
        if connect:
            self.connect()

    @property
    def pending(self) -> int:
        """Appends under way: queued, or in the commit being written."""
        with self._state:
            return self._pending

    @property
    def head(self) -> tuple[int, str]:
        """(seq, hash) of this writer's last committed verdict."""
        return self._head

    def store_bundle(self, bundle: Bundle) -> None:
        """Keep `bundle`'s sources (once per digest) so its verdicts can be replayed.

        Raises LogUnavailable if the database cannot take them now; they are then written with
        the next append, before any verdict that needs them.
        """
        with self._state:
            if bundle.digest not in self._stored_bundles:
                self._pending_bundles[bundle.digest] = bundle.sources
        self._submit(_Ticket(()))

    def append(self, records: Sequence[VerdictRecord]) -> list[str]:
        """Write `records` durably, in order; their verdict ids, once committed."""
        return [receipt.verdict_id for receipt in self.receipts(records)]

    def receipts(self, records: Sequence[VerdictRecord]) -> list[Receipt]:
        """Write `records` durably, in order; where each landed (id, writer, seq, hash), once
        committed: what a caller keeps to prove later that its verdict was logged."""
        with self._state:
            known = self._stored_bundles | self._pending_bundles.keys()
        for record in records:
            if record.bundle_digest not in known:
                raise LogError(f"bundle {record.bundle_digest} was not stored: call store_bundle first")
        return self._submit(_Ticket(records))

    def connect(self) -> None:
        """Open the database now if it is not open (raises LogUnavailable or LogError)."""
        with self._state:
            while self._leading:
                self._state.wait()
            self._leading = True
        try:
            self._open()
        finally:
            with self._state:
                self._leading = False
                self._state.notify_all()

    def close(self) -> None:
        with self._state:
            while self._leading:
                self._state.wait()
            self._drop_session()

    def _submit(self, ticket: _Ticket) -> list[Receipt]:
        """Queue `ticket`; wait while another caller writes, or lead the next group commit."""
        group: list[_Ticket] | None = None
        with self._state:
            self._queue.append(ticket)
            self._pending += 1
            while self._leading and not ticket.done:
                self._state.wait()
            if not ticket.done:  # nobody is writing: take everything queued so far
                self._leading = True
                group, self._queue = self._queue, []
        if group is not None:
            try:
                self._commit(group)
            finally:
                with self._state:
                    self._leading = False
                    self._pending -= len(group)
                    self._state.notify_all()
        if ticket.error is not None:
            raise ticket.error
        return ticket.receipts

    def _commit(self, group: list[_Ticket]) -> None:
        """Write `group` in one transaction; mark every ticket done (with receipts or the error).

        A connection found broken before COMMIT (it died while idle: server restart, proxy
        timeout) wrote nothing, so the group is tried once more on a fresh connection. A failure
        during COMMIT is CommitUncertain, never retried: the rows may have landed.
        """
        with self._state:
            bundles = dict(self._pending_bundles)
        started = time.perf_counter()
        verdicts = sum(len(ticket.records) for ticket in group)
        try:
            fresh = self._session is None
            try:
                receipts = self._write(self._open(), group, bundles)
            except ConnectionLost:
                self._drop_session()
                if fresh:
                    raise
                receipts = self._write(self._open(), group, bundles)
        except Exception as error:
            failure = error if isinstance(error, LogError) else LogError(f"cannot log verdicts: {error}")
            self._drop_session()
            for ticket in group:
                ticket.error, ticket.done = failure, True
            self._observe(started, verdicts, failed=True)
            return
        self.commits += 1
        self._observe(started, verdicts, failed=False)
        with self._state:
            self._stored_bundles.update(bundles)
            for digest in bundles:
                self._pending_bundles.pop(digest, None)
        for ticket, landed in zip(group, receipts, strict=True):
            ticket.receipts, ticket.done = landed, True

    def _observe(self, started: float, verdicts: int, *, failed: bool) -> None:
        if self._observer is not None and verdicts:
            self._observer(time.perf_counter() - started, verdicts, failed)

    def _write(
        self, session: Session, group: list[_Ticket], bundles: dict[str, SourceTree]
    ) -> list[list[Receipt]]:
        """One transaction: pending bundles, then every record of `group` chained after the head."""
        dialect = session.dialect
        id_param = dialect.id_param
        writer = id_param(self.writer_id)
        seq, prev = self._head
        stamps = iter(self._clock.next_many(sum(len(ticket.records) for ticket in group)))
        moment: datetime | None = None
        text = ""
        logged_at: Any = None
        receipts: list[list[Receipt]] = []
        verdicts: list[tuple[Any, ...]] = []
        policies: list[tuple[Any, str]] = []
        grounds: list[tuple[Any, str, str]] = []
        for ticket in group:
            landed: list[Receipt] = []
            receipts.append(landed)
            for record in ticket.records:
                verdict_id, made = next(stamps)
                if made is not moment:  # a group's ids share one instant: formatted once
                    moment, text, logged_at = made, format_time(made), dialect.time_param(made)
                seq += 1
                own = chain_hash(
                    record, verdict_id=verdict_id, writer=self.writer_id, seq=seq, time=text, prev_hash=prev
                )
                key = id_param(verdict_id)
                verdicts.append(
                    to_row(
                        dialect,
                        record,
                        verdict_id=key,
                        writer=writer,
                        seq=seq,
                        time=logged_at,
                        prev_hash=prev,
                        own_hash=own,
                    )
                )
                entries = record.index or IndexEntries.of(record.matches)
                if entries.policies:  # most verdicts match nothing
                    policies.extend((key, policy) for policy in entries.policies)
                    grounds.extend((key, instrument, article) for instrument, article in entries.grounds)
                landed.append(Receipt(verdict_id, self.writer_id, seq, own))
                prev = own
        with session.transaction():
            for digest, sources in bundles.items():
                _write_bundle(session, digest, sources)
            if verdicts:
                session.insert("verdicts", COLUMNS, verdicts)
                if policies:  # most verdicts match nothing: no statement to run
                    session.insert("verdict_policies", ("verdict_id", "policy"), policies)
                if grounds:
                    session.insert("verdict_grounds", ("verdict_id", "instrument", "article"), grounds)
                session.execute(
                    "UPDATE writers SET head_seq = ?, head_hash = ? WHERE id = ?", (seq, prev, writer)
                )
        self._head = (seq, prev)
        return receipts

    def _open(self) -> Session:
        """The open session, or a new one. While the database is down, tries at most once per
        backoff period (0.1 s, doubling up to MAX_BACKOFF): callers in between fail at once
        instead of each waiting for a connection timeout."""
        if self._session is not None:
            return self._session
        now = time.monotonic()
        if now < self._retry_at:
            raise LogUnavailable(f"{self._down} (next try in {self._retry_at - now:.1f}s)")
        try:
            session = self._connect()
        except LogUnavailable as error:
            self._down = str(error)
            self._retry_at = now + self._backoff
            self._backoff = min(self._backoff * 2, MAX_BACKOFF)
            raise
        self._retry_at, self._backoff = 0.0, MIN_BACKOFF
        return session

    def _connect(self) -> Session:
        """Open a session, migrate, and (re)load this writer's head; registers it the first time."""
        session = self.database.connect()
        try:
            migrate(session, self.started_at)
            key = session.dialect.id_param(self.writer_id)
            row = session.one("SELECT head_seq, head_hash FROM writers WHERE id = ?", (key,))
            if row is None:
                session.execute(
                    "INSERT INTO writers (id, started_at, host, pid, label, head_seq, head_hash) "
                    "VALUES (?, ?, ?, ?, ?, 0, ?)",
                    (
                        key,
                        session.dialect.time_param(self.started_at),
                        socket.gethostname(),
                        os.getpid(),
                        self.label,
                        GENESIS_HASH,
                    ),
                )
                self._head = (0, GENESIS_HASH)
            else:
                self._head = (int(row[0]), str(row[1]))
        except BaseException:
            session.close()
            raise
        self._session = session
        return session

    def _drop_session(self) -> None:
        if self._session is not None:
            with contextlib.suppress(Exception):  # a broken connection may fail to close: gone anyway
                self._session.close()
            self._session = None


def _write_bundle(session: Session, digest: str, sources: SourceTree) -> None:
    """Insert a bundle and its sources unless the log has that digest (another writer may race)."""
    if session.one("SELECT 1 FROM bundles WHERE digest = ?", (digest,)) is not None:
        return
    session.execute(
        "INSERT INTO bundles (digest, stored_at) VALUES (?, ?) ON CONFLICT (digest) DO NOTHING",
        (digest, session.dialect.time_param(datetime.now(UTC))),
    )
    session.executemany(
        "INSERT INTO bundle_sources (digest, path, content) VALUES (?, ?, ?) "
        "ON CONFLICT (digest, path) DO NOTHING",
        [(digest, path, content) for path, content in sorted(sources.items())],
    )
