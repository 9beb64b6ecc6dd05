"""The evaluator that judges new requests, swapped atomically when policies reload.

A request leases the current evaluator for the duration of its evaluation; a reload installs a
new one for the requests that follow. A replaced evaluator is closed (its durable-rules ruleset
freed) only once the last request that leased it has finished, so no request ever loses the
evaluator it started with.
"""

from __future__ import annotations

import threading
from types import TracebackType

from tamis.engine import Evaluator


class NoBundleLoaded(RuntimeError):
    """No valid policy bundle has been loaded yet."""


class _Slot:
    __slots__ = ("evaluator", "leases", "retired", "source")

    def __init__(self, evaluator: Evaluator, source: str) -> None:
        self.evaluator = evaluator
        self.source = source
        self.leases = 0
        self.retired = False


class Lease:
    """`with live.lease() as evaluator:` — the evaluator stays open until the block ends."""

    __slots__ = ("_live", "_slot")

    def __init__(self, live: LiveEvaluator, slot: _Slot) -> None:
        self._live = live
        self._slot = slot

    def __enter__(self) -> Evaluator:
        return self._slot.evaluator

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._live._release(self._slot)


class LiveEvaluator:
    """Holds the current evaluator; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._slot: _Slot | None = None

    def lease(self) -> Lease:
        """Lease the current evaluator; raises NoBundleLoaded before the first bundle."""
        with self._lock:
            slot = self._slot
            if slot is None:
                raise NoBundleLoaded("no policy bundle is loaded yet")
            slot.leases += 1
        return Lease(self, slot)

    def current(self) -> tuple[Evaluator, str] | None:
        """The evaluator new requests get and the directory it was loaded from (no lease)."""
        slot = self._slot
        return (slot.evaluator, slot.source) if slot else None

    def swap(self, evaluator: Evaluator, source: str) -> None:
        """Judge new requests with `evaluator`; close the previous one once it is idle."""
        self._replace(_Slot(evaluator, source))

    def close(self) -> None:
        """Judge nothing more; close the current evaluator once it is idle."""
        self._replace(None)

    def _replace(self, slot: _Slot | None) -> None:
        with self._lock:
            old, self._slot = self._slot, slot
            idle = old is not None and old.leases == 0
            if old is not None:
                old.retired = True
        if idle and old is not None:
            old.evaluator.close()

    def _release(self, slot: _Slot) -> None:
        with self._lock:
            slot.leases -= 1
            idle = slot.retired and slot.leases == 0
        if idle:
            slot.evaluator.close()
