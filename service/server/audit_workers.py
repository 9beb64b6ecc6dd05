"""Replays and verifications in worker processes, never in the serving process.

Replaying a verdict compiles its bundle (about 0.7 s; durable-rules keeps a few megabytes of
every ruleset it ever compiled), and verifying hashes every record (about a minute per million):
run in the serving process, two replaying clients pushed Evaluate's median from 3 to 111 ms. So
each kind runs in a process of its own, spawned on first use and replaced after MAX_TASKS
calls (which returns what durable-rules kept). One replay process compiles one bundle at a time,
so two replays of one digest never compile it twice, and it keeps the last few compiled bundles
by digest. A caller may have at most `per_caller` of these calls under way, and at most
MAX_QUEUED wait in all; beyond, the call is refused at once (RESOURCE_EXHAUSTED) rather than
queued behind the others.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from typing import TypeVar

from tamis.service.verdictlog import AuditLog, Replay, VerifyReport, open_database

T = TypeVar("T")

#: Calls a worker process serves before it is replaced by a fresh one.
MAX_TASKS = 100
#: Calls waiting or running, all callers together.
MAX_QUEUED = 8
#: Seconds between checks, while waiting for a worker, that the server is not shutting down.
WAIT_SLICE = 0.25


class AuditBusy(Exception):
    """The caller, or the server, has as many audit calls under way as it may."""


class AuditTimeout(Exception):
    """The caller's deadline passed before the worker answered."""


class AuditStopped(Exception):
    """The server is shutting down: work under way was abandoned."""


class AuditWorkers:
    """The replay and verify worker processes of one server process; thread-safe."""

    def __init__(self, location: str, per_caller: int) -> None:
        self.location = location
        self.per_caller = per_caller
        self._lock = threading.Lock()
        self._calls: Counter[str] = Counter()
        self._executors: dict[str, ProcessPoolExecutor] = {}
        self._closing = threading.Event()

    def replay(self, caller: str, verdict_id: str, timeout: float | None) -> Replay:
        return self._run("replay", caller, timeout, _replay, self.location, verdict_id)

    def verify(self, caller: str, timeout: float | None) -> VerifyReport:
        return self._run("verify", caller, timeout, _verify, self.location)

    def close(self) -> None:
        """Abandon the work under way (its callers get AuditStopped) and end the worker processes:
        a verification of a large log must not hold the server's shutdown for minutes."""
        self._closing.set()
        with self._lock:
            executors, self._executors = list(self._executors.values()), {}
        for executor in executors:
            processes = list((executor._processes or {}).values())  # no public way before Python 3.14
            executor.shutdown(wait=False, cancel_futures=True)
            for process in processes:
                process.terminate()
                process.join()

    def _run(self, kind: str, caller: str, timeout: float | None, work: Callable[..., T], *args: str) -> T:
        with self._lock:
            if self._calls[caller] >= self.per_caller:
                raise AuditBusy(
                    f"this caller has {self.per_caller} replay or verify calls under way, its limit; "
                    "wait for them"
                )
            if self._calls.total() >= MAX_QUEUED:
                raise AuditBusy(f"{MAX_QUEUED} replay or verify calls are under way, the server's limit")
            self._calls[caller] += 1
            executor = self._executors.get(kind)
            if executor is None:
                executor = self._executors[kind] = ProcessPoolExecutor(
                    max_workers=1,
                    mp_context=multiprocessing.get_context("spawn"),
                    max_tasks_per_child=MAX_TASKS,
                )
        try:
            future: Future[T] = executor.submit(work, *args)
        except BaseException:
            self._release(caller)
            raise
        # The slot is the caller's until the work is done, not until the caller stops waiting:
        # deadlines that pass at once must not pile work up in the worker.
        future.add_done_callback(lambda _: self._release(caller))
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = WAIT_SLICE if deadline is None else min(WAIT_SLICE, max(deadline - time.monotonic(), 0))
            try:
                return future.result(left)
            except FutureTimeout:
                if self._closing.is_set():
                    raise AuditStopped(f"the server is shutting down; the {kind} was abandoned") from None
                if deadline is not None and time.monotonic() >= deadline:
                    future.cancel()
                    raise AuditTimeout(f"the {kind} did not finish before the deadline") from None
            except BrokenProcessPool:
                raise AuditStopped(f"the {kind} worker stopped; the {kind} was abandoned") from None

    def _release(self, caller: str) -> None:
        with self._lock:
            self._calls[caller] -= 1
            if not self._calls[caller]:
                del self._calls[caller]


# --- in the worker process ----------------------------------------------------------------------

_AUDITS: dict[str, AuditLog] = {}


def _audit(location: str) -> AuditLog:
    audit = _AUDITS.get(location)
    if audit is None:
        audit = _AUDITS[location] = AuditLog(open_database(location, create=False, read_only=True))
    return audit


def _replay(location: str, verdict_id: str) -> Replay:
    return _audit(location).replay(verdict_id)


def _verify(location: str) -> VerifyReport:
    return _audit(location).verify()
