"""Where verdicts go before they are acknowledged: the seam for the verdict log.

The server calls `record` with every verdict it is about to return and answers only once it
returns; a sink that fails (raises) makes the call fail with UNAVAILABLE, so no verdict is ever
acknowledged without being recorded. `bundle_loaded` comes first for each bundle, so a log can
store a bundle's sources (by digest) before any verdict names it. The verdict log plugs in by
implementing `VerdictSink`; without it the server uses `NullSink`.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from tamis.engine import Bundle, Verdict
from tamis.service.verdictlog.records import NO_RECEIPT, Caller, Receipt


class VerdictSink(Protocol):
    """Records verdicts durably; called from many server threads at once."""

    def bundle_loaded(self, bundle: Bundle) -> None:
        """A bundle is about to judge listings (called before its first verdict)."""

    def record(self, verdicts: Sequence[Verdict], caller: Caller) -> list[Receipt]:
        """Record `verdicts` (each carries the listing it judged, validated, as `request`;
        `caller` says who asked). Return one receipt (verdict id and place in the log) per
        verdict, in order, once they are durable; raise to refuse them."""

    def close(self) -> None:
        """Flush and release; called once, after the last `record`."""


class NullSink:
    """Keeps nothing: verdicts go out with an empty verdict_id and no receipt."""

    def bundle_loaded(self, bundle: Bundle) -> None:
        pass

    def record(self, verdicts: Sequence[Verdict], caller: Caller) -> list[Receipt]:
        return [NO_RECEIPT] * len(verdicts)

    def close(self) -> None:
        pass


@dataclass(frozen=True, slots=True)
class Recorded:
    verdict_id: str
    verdict: Verdict
    request: Mapping[str, Any]
    caller: Caller


class MemorySink:
    """Keeps every verdict in memory, with ids `mem-1`, `mem-2`, …: for embedding and tests."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self.bundles: list[str] = []
        self.records: list[Recorded] = []
        self.closed = False

    def bundle_loaded(self, bundle: Bundle) -> None:
        with self._lock:
            self.bundles.append(bundle.digest)

    def record(self, verdicts: Sequence[Verdict], caller: Caller) -> list[Receipt]:
        with self._lock:
            recorded = [
                Recorded(f"mem-{next(self._ids)}", verdict, verdict.request, caller) for verdict in verdicts
            ]
            self.records += recorded
        return [Receipt(item.verdict_id, "", 0, "") for item in recorded]

    def close(self) -> None:
        self.closed = True
