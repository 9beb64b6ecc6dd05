"""Keep the served bundle in step with the policy directory, never serving a broken one.

A background thread checks the directory every `interval` seconds (file names, sizes and
modification times of its YAML files) and reloads when they change, once they have stopped
changing; `request()` (SIGHUP) reloads at once. A new bundle is loaded and compiled aside, then
swapped in atomically (LiveEvaluator). A policy set with errors is rejected: each problem is
logged with its file:line and the last good bundle keeps serving.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from tamis.engine import Bundle, Evaluator, Limits, PolicySetError, load_bundle
from tamis.service.heap import settle_heap
from tamis.service.server import metrics
from tamis.service.server.live import LiveEvaluator
from tamis.service.server.logs import logger
from tamis.service.server.sink import VerdictSink

Signature = tuple[tuple[str, int, int], ...]

#: Seconds a changed directory must stay unchanged before it is loaded (editors and copies
#: write in several steps).
SETTLE = 0.2


def signature(directory: Path) -> Signature:
    """What changes when any YAML file under `directory` does (cheap: one stat per file)."""
    entries = []
    try:
        for path in sorted(directory.rglob("*.yaml")):
            stat = path.stat()
            entries.append((path.relative_to(directory).as_posix(), stat.st_mtime_ns, stat.st_size))
    except OSError:  # vanished while listed: changing; or the directory is gone
        return (("", -1, -1),)
    return tuple(entries)


class PolicyReloader:
    """Loads the policy directory into `live`, at start, on change and on request."""

    def __init__(
        self,
        *,
        directory: Path,
        live: LiveEvaluator,
        limits: Limits,
        sink: VerdictSink,
        interval: float,
        on_loaded: Callable[[Bundle], None],
    ) -> None:
        self.directory = directory
        self.live = live
        self.limits = limits
        self.sink = sink
        self.interval = interval
        self.on_loaded = on_loaded
        self._log = logger(directory=str(directory))
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._seen: Signature | None = None
        self._thread = threading.Thread(target=self._run, name="tamis-reload", daemon=True)
        self._load_lock = threading.Lock()

    def start(self) -> None:
        self._thread.start()

    def request(self) -> None:
        """Reload as soon as possible, changed or not (SIGHUP)."""
        self._wake.set()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join()

    def load(self, reason: str) -> bool:
        """Load the directory now; True when a new bundle was installed. Never raises."""
        with self._load_lock:
            try:
                return self._load(reason)
            except Exception:
                self._log.exception("reload failed", reason=reason, kept=self._current())
                return False

    def _load(self, reason: str) -> bool:
        started = time.perf_counter()
        self._seen = signature(self.directory)
        try:
            bundle = load_bundle(self.directory)
        except PolicySetError as error:
            for problem in error.problems:
                where = f"{self.directory / str(problem.location)}"
                self._log.error("policy error", location=where, path=problem.path, message=problem.message)
            self._log.error(
                "reload rejected", reason=reason, problems=len(error.problems), kept=self._current()
            )
            metrics.reload_result("rejected")
            return False
        except (OSError, UnicodeError) as error:
            self._log.error("reload rejected", reason=reason, error=str(error), kept=self._current())
            metrics.reload_result("rejected")
            return False
        if bundle.digest == self._current():
            self._log.info("policies unchanged", reason=reason, bundle=bundle.digest)
            metrics.reload_result("unchanged")
            return False
        evaluator = Evaluator(bundle, self.limits)
        try:
            self.sink.bundle_loaded(bundle)
        except Exception:
            evaluator.close()
            self._log.exception("reload rejected: the verdict sink refused the bundle", bundle=bundle.digest)
            metrics.reload_result("rejected")
            return False
        previous = self._current()
        self.live.swap(evaluator, str(self.directory))
        metrics.bundle_loaded(bundle, previous, time.perf_counter() - started)
        self._log.info(
            "bundle loaded",
            reason=reason,
            bundle=bundle.digest,
            previous=previous,
            policies=len(bundle.policy_set.policies),
        )
        self.on_loaded(bundle)
        settle_heap()
        return True

    def _current(self) -> str | None:
        current = self.live.current()
        return current[0].bundle.digest if current else None

    def _run(self) -> None:
        timeout = self.interval or None
        while not self._stopping.is_set():
            requested = self._wake.wait(timeout)
            self._wake.clear()
            if self._stopping.is_set():
                return
            if requested:
                self.load("signal")
            elif self._changed():
                self.load("directory changed")

    def _changed(self) -> bool:
        now = signature(self.directory)
        if now == self._seen:
            return False
        while not self._stopping.wait(SETTLE):
            settled = signature(self.directory)
            if settled == now:
                return True
            now = settled
        return False
