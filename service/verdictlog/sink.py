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
from collections.abc import Mapping, Sequence
from typing import Any

from engine import Bundle, Limits, Verdict
from engine.listing import validate_listing
from service.server.logs import logger
from service.verdictlog.records import VerdictRecord
from service.verdictlog.store import Database, LogError, LogUnavailable
from service.verdictlog.writer import VerdictLog

#: The server has judged each request under its own limits already: validating it again only
#: canonicalises it (resolves attribute aliases), so no limit may refuse it here.
_NO_LIMITS = Limits(
    max_text_chars=2**62,
    max_attributes=2**62,
    max_ship_to=2**62,
    max_list_items=2**62,
    max_listing_bytes=2**62,
)


class LogSink:
    """A VerdictSink writing to the verdict log; safe to call from every server thread."""

    def __init__(self, database: Database, label: str = "tamis serve") -> None:
        self.log = VerdictLog(database, label, connect=False)
        self._aliases: dict[str, dict[str, str]] = {}
        self._lock = threading.Lock()
        self._log = logger(writer=self.log.writer_id)
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
            self._aliases = {**self._aliases, bundle.digest: bundle.policy_set.aliases}
        try:
            self.log.store_bundle(bundle)
        except LogUnavailable as error:
            self._log.warning("bundle sources not stored yet", bundle=bundle.digest, error=str(error))

    def record(
        self, verdicts: Sequence[Verdict], requests: Sequence[Mapping[str, Any]], caller: str
    ) -> list[str]:
        aliases = self._aliases
        records = []
        for verdict, request in zip(verdicts, requests, strict=True):
            if verdict.policy_version not in aliases:
                raise LogError(f"bundle {verdict.policy_version} was not announced by bundle_loaded")
            listing = validate_listing(request, _NO_LIMITS, aliases[verdict.policy_version])
            records.append(VerdictRecord.of(verdict, listing, caller))
        return self.log.append(records)

    def close(self) -> None:
        self.log.close()
