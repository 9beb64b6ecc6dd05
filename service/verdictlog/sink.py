"""The verdict log behind the server's VerdictSink seam: no verdict acknowledged unlogged.

The server calls `record` with the verdicts it is about to return and answers only once it
returns: here, once their rows are committed (group commits across concurrent calls; a stream
message is one append). Any failure raises, and the server answers UNAVAILABLE. A bundle's
sources are stored when it loads; if the database is down then, they are written with the
bundle's first verdicts. If the database is down when the server starts, the server still
starts, answers UNAVAILABLE and connects as soon as the database is back.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import structlog

from tamis.engine import Bundle, Verdict
from tamis.service.verdictlog.records import Caller, Receipt, VerdictRecord
from tamis.service.verdictlog.store import Database, LogError, LogUnavailable
from tamis.service.verdictlog.writer import CommitObserver, VerdictLog


class LogSink:
    """A VerdictSink writing to the verdict log; safe to call from every server thread."""

    def __init__(
        self, database: Database, label: str = "tamis serve", observer: CommitObserver | None = None
    ) -> None:
        self.log = VerdictLog(database, label, connect=False, observer=observer)
        self._announced: frozenset[str] = frozenset()
        self._lock = threading.Lock()
        self._log = structlog.get_logger("tamis").bind(writer=self.log.writer_id)
        try:
            self.log.connect()
        except LogUnavailable as error:
            self._log.warning(
                "verdict log unavailable; verdicts are refused until it is back", error=str(error)
            )
        else:
            self._log.info("verdict log open", log=database.describe())

    def bundle_loaded(self, bundle: Bundle) -> None:
        with self._lock:  # copied on write: `record` reads it without the lock
            self._announced = self._announced | {bundle.digest}
        try:
            self.log.store_bundle(bundle)
        except LogUnavailable as error:
            self._log.warning("bundle sources not stored yet", bundle=bundle.digest, error=str(error))

    def record(self, verdicts: Sequence[Verdict], caller: Caller) -> list[Receipt]:
        announced = self._announced
        for verdict in verdicts:
            if verdict.bundle_digest not in announced:
                raise LogError(f"bundle {verdict.bundle_digest} was not announced by bundle_loaded")
        return self.log.receipts(
            [
                VerdictRecord.of(verdict, verdict.request, caller.identity, caller.claimed)
                for verdict in verdicts
            ]
        )

    def close(self) -> None:
        self.log.close()
