"""The reading side of the log: query, fetch one verdict, verify, replay.

Safe to share between threads: each thread gets its own session, opened on first use and
dropped when the database fails, so the next call reconnects.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TypeVar

from tamis.engine import SourceTree, quote
from tamis.service.verdictlog.checkpoint import Checkpoint, SignedCheckpoint
from tamis.service.verdictlog.checkpoint import take as take_checkpoint
from tamis.service.verdictlog.erase import Erasure, erase
from tamis.service.verdictlog.ids import is_verdict_id
from tamis.service.verdictlog.query import Page, VerdictQuery, check_page, run_query
from tamis.service.verdictlog.records import LoggedVerdict, Receipt
from tamis.service.verdictlog.replay import Replay, Replayer
from tamis.service.verdictlog.rows import from_row, select_columns
from tamis.service.verdictlog.schema import require_current, require_log
from tamis.service.verdictlog.store import Database, LogError, LogUnavailable, Session
from tamis.service.verdictlog.verify import Problem, VerifyReport, verify_log

T = TypeVar("T")


class VerdictNotFound(LogError):
    """No verdict with that id is in the log."""


class AuditLog:
    def __init__(self, database: Database) -> None:
        self.database = database
        self._local = threading.local()
        self._sessions: list[Session] = []
        self._lock = threading.Lock()
        self._replayer = Replayer(self.bundle_sources)

    def query(self, query: VerdictQuery, limit: int = 50, after: str | None = None) -> Page:
        """Verdicts matching `query`, newest first, a page at a time."""
        check_page(limit, after)
        return self._run(lambda session: run_query(session, query, limit, after))

    def get(self, verdict_id: str) -> LoggedVerdict | None:
        if not is_verdict_id(verdict_id):
            raise ValueError(f"not a verdict id: {quote(verdict_id)}")

        def fetch(session: Session) -> LoggedVerdict | None:
            row = session.one(
                f"SELECT {select_columns()} FROM verdicts v WHERE v.id = ?",
                (session.dialect.id_param(verdict_id),),
            )
            return from_row(row, session.dialect) if row else None

        return self._run(fetch)

    def bundle_sources(self, digest: str) -> SourceTree | None:
        """The policy sources stored under `digest`, or None."""

        def fetch(session: Session) -> SourceTree | None:
            if session.one("SELECT 1 FROM bundles WHERE digest = ?", (digest,)) is None:
                return None
            rows = session.all("SELECT path, content FROM bundle_sources WHERE digest = ?", (digest,))
            return {path: bytes(content) for path, content in rows}

        return self._run(fetch)

    def verify(
        self, checkpoints: Sequence[SignedCheckpoint] = (), *, incremental: bool = False
    ) -> VerifyReport:
        """Every chain, index and bundle (from the checkpoints on, if `incremental`); and that the
        log extends each of `checkpoints`."""
        return self._run(lambda session: verify_log(session, checkpoints, incremental=incremental))

    def check_receipt(self, receipt: Receipt, checkpoints: Sequence[SignedCheckpoint]) -> list[Problem]:
        """Why `receipt` does not prove its verdict was logged: the record must be where the
        receipt says, with its hash, and a signed checkpoint must cover that seq of that writer
        (the rest, that the log still extends each checkpoint, is `verify`'s)."""
        logged = self.get(receipt.verdict_id)
        where = (receipt.verdict_id, receipt.writer, receipt.seq)
        if logged is None:
            return [Problem("the receipt's verdict is not in the log", *where)]
        if logged.receipt != receipt:
            return [
                Problem(
                    f"the log keeps this verdict at writer {logged.writer} seq {logged.seq} with hash "
                    f"{logged.hash}, not where the receipt says",
                    *where,
                )
            ]
        covering = [
            signed.path.name
            for signed in checkpoints
            for head in signed.checkpoint.writers
            if head.writer == receipt.writer and head.seq >= receipt.seq
        ]
        if not covering:
            return [
                Problem("no signed checkpoint covers this seq of this writer yet: check again later", *where)
            ]
        return []

    def erase(self, *, seller_id: str | None = None, before: datetime | None = None) -> Erasure:
        """Erase the listings of a seller, or those logged before `before`; recorded (erase.py)."""
        return self._run(lambda session: erase(session, seller_id=seller_id, before=before))

    def checkpoint(self) -> Checkpoint:
        """Every writer's head and every stored bundle, now (to be signed and kept elsewhere)."""
        return self._run(take_checkpoint)

    def replay(self, verdict_id: str) -> Replay:
        logged = self.get(verdict_id)
        if logged is None:
            raise VerdictNotFound(f"no verdict {verdict_id} in the log")
        return self._replayer.replay(logged)

    def close(self) -> None:
        self._replayer.close()
        with self._lock:
            for session in self._sessions:
                session.close()
            self._sessions.clear()
        self._local = threading.local()

    def _run(self, work: Callable[[Session], T]) -> T:
        session = self._session()
        try:
            return work(session)
        except LogUnavailable:
            self._forget(session)
            raise

    def _session(self) -> Session:
        session: Session | None = getattr(self._local, "session", None)
        if session is None:
            session = self.database.connect()
            try:
                require_log(session, self.database.describe())
                require_current(session, self.database.describe())
            except BaseException:
                session.close()
                raise
            self._local.session = session
            with self._lock:
                self._sessions.append(session)
        return session

    def _forget(self, session: Session) -> None:
        self._local.session = None
        with self._lock:
            if session in self._sessions:
                self._sessions.remove(session)
        with contextlib.suppress(LogError):
            session.close()
