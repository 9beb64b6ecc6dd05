"""Prometheus metrics: what operators scrape from `tamis serve` (off unless `metrics_port` is set).

Every label has a bounded set of values: gRPC method names and status codes, decisions, the two
kinds of listing refusal, reload results, and policy ids, which come only from
loaded bundles. The hooks the server calls on its request path do a few counter increments per
call, on label children resolved once, never one per listing.

With `--workers N` the parent process serves the metrics of every worker: prometheus-client's
multiprocess mode, where each worker writes its values to files in a private directory that the
parent makes before starting the workers and removes on exit (`exposed`).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import grpc
from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    multiprocess,
)
from prometheus_client.exposition import start_http_server

from tamis.engine import Bundle, ListingError, StageTimes, Verdict
from tamis.service.server.calls import CallObserver

#: Where prometheus-client's multiprocess mode keeps the workers' values.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# `_created` series would double the exposition, and nothing here reads them
disable_created_metrics()  # type: ignore[no-untyped-call]

_LATENCY = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

REQUESTS = Counter(
    "tamis_requests", "RPCs ended, by service, method and gRPC status code", ("service", "method", "code")
)
REQUEST_SECONDS = Histogram(
    "tamis_request_duration_seconds",
    "Time from an RPC's start to its end, by service and method (a stream: all of it)",
    ("service", "method"),
    buckets=_LATENCY,
)
STREAM_MESSAGES = Counter("tamis_stream_messages", "EvaluateStream request messages answered")
STREAM_MESSAGE_SECONDS = Histogram(
    "tamis_stream_message_duration_seconds",
    "Time to judge, log and answer one EvaluateStream message",
    buckets=_LATENCY,
)
OPEN_STREAMS = Gauge("tamis_open_streams", "EvaluateStream calls open now", multiprocess_mode="livesum")
VERDICTS = Counter("tamis_verdicts", "Verdicts reached, by decision", ("decision",))
POLICY_MATCHES = Counter("tamis_policy_matches", "Verdicts in which a policy matched, by policy", ("policy",))
LISTING_ERRORS = Counter(
    "tamis_listing_errors",
    "Listings refused: invalid (breaks the listing contract) or too_large (over a size limit)",
    ("kind",),
)
ENGINE_SECONDS = Counter(
    "tamis_engine_seconds",
    "Seconds the engine spent judging listings (validation, text, rules, verdicts; not waiting for it)",
)
ENGINE_LISTINGS = Counter(
    "tamis_engine_listings", "Listings the engine judged (with ENGINE_SECONDS: time per listing)"
)
LOG_COMMIT_SECONDS = Histogram(
    "tamis_verdict_log_commit_duration_seconds",
    "Time to write one group commit of the verdict log, fsync included",
    buckets=_LATENCY,
)
LOG_COMMIT_VERDICTS = Histogram(
    "tamis_verdict_log_commit_verdicts",
    "Verdicts written per group commit of the verdict log",
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000),
)
LOG_COMMIT_FAILURES = Counter(
    "tamis_verdict_log_commit_failures", "Group commits of the verdict log that failed"
)
BUNDLE_INFO = Gauge(
    "tamis_bundle_info",
    "1 for the digest of the bundle serving, 0 for one replaced",
    ("digest",),
    multiprocess_mode="livemax",
)
BUNDLE_POLICIES = Gauge(
    "tamis_bundle_policies", "Policies in the bundle serving", multiprocess_mode="livemax"
)
BUNDLE_LOADED = Gauge(
    "tamis_bundle_loaded_timestamp_seconds",
    "When the bundle serving was loaded (Unix time)",
    multiprocess_mode="livemax",
)
BUNDLE_LOAD_SECONDS = Gauge(
    "tamis_bundle_load_duration_seconds",
    "Time to load and compile the bundle serving",
    multiprocess_mode="livemax",
)
RELOADS = Counter(
    "tamis_bundle_reloads",
    "Policy loads: accepted, rejected (errors; the last good bundle serves) or unchanged",
    ("result",),
)

_DECISIONS = {decision: VERDICTS.labels(decision) for decision in ("allow", "flag", "block")}
_REFUSALS = {
    too_large: LISTING_ERRORS.labels("too_large" if too_large else "invalid") for too_large in (False, True)
}
_RELOAD_RESULTS = {result: RELOADS.labels(result) for result in ("accepted", "rejected", "unchanged")}
_calls: dict[tuple[str, str, grpc.StatusCode], tuple[Any, Any]] = {}
_policies: dict[str, Any] = {}


class ServerCalls(CallObserver):
    """Counts and times every RPC of every service (methods the server registered, no others)."""

    def started(self, service: str, method: str, context: grpc.ServicerContext) -> Any:
        return service, method, time.perf_counter()

    def ended(self, token: Any, code: grpc.StatusCode) -> None:
        service, method, started = token
        children = _calls.get((service, method, code))
        if children is None:
            children = _calls[service, method, code] = (
                REQUESTS.labels(service, method, code.name),
                REQUEST_SECONDS.labels(service, method),
            )
        children[0].inc()
        children[1].observe(time.perf_counter() - started)


def stream_message(started: float) -> None:
    STREAM_MESSAGES.inc()
    STREAM_MESSAGE_SECONDS.observe(time.perf_counter() - started)


def stream_opened(context: grpc.ServicerContext) -> None:
    """A stream is open until its call ends, however it ends."""
    OPEN_STREAMS.inc()
    if not context.add_callback(OPEN_STREAMS.dec):
        OPEN_STREAMS.dec()


def judged(outcomes: Sequence[Verdict | ListingError], times: StageTimes) -> None:
    """Decisions, policy matches, refusals and engine time of one engine call: counted here
    first, so each counter is incremented once per call, not once per listing."""
    decisions: dict[str, int] = {}
    matched: dict[str, int] = {}
    refusals: dict[bool, int] = {}
    for outcome in outcomes:
        if isinstance(outcome, ListingError):
            refusals[outcome.too_large] = refusals.get(outcome.too_large, 0) + 1
            continue
        decision = outcome.decision.value
        decisions[decision] = decisions.get(decision, 0) + 1
        for match in outcome.matches:
            matched[match.policy] = matched.get(match.policy, 0) + 1
    for decision, count in decisions.items():
        _DECISIONS[decision].inc(count)
    for policy, count in matched.items():
        child = _policies.get(policy)
        if child is None:
            child = _policies[policy] = POLICY_MATCHES.labels(policy)
        child.inc(count)
    for too_large, count in refusals.items():
        _REFUSALS[too_large].inc(count)
    ENGINE_SECONDS.inc(sum(times.seconds.values()))
    ENGINE_LISTINGS.inc(times.listings)


def refused(error: ListingError) -> None:
    """A listing refused before the engine saw it (over the encoded size limit)."""
    _REFUSALS[error.too_large].inc()


def log_commit(seconds: float, verdicts: int, failed: bool) -> None:
    """One group commit of the verdict log (the VerdictLog's commit observer)."""
    if failed:
        LOG_COMMIT_FAILURES.inc()
        return
    LOG_COMMIT_SECONDS.observe(seconds)
    LOG_COMMIT_VERDICTS.observe(verdicts)


def bundle_loaded(bundle: Bundle, previous: str | None, seconds: float) -> None:
    """A new bundle serves; its policies' match counters start at 0 (so rates exist at once)."""
    if previous is not None:
        BUNDLE_INFO.labels(previous).set(0)
    BUNDLE_INFO.labels(bundle.digest).set(1)
    BUNDLE_POLICIES.set(len(bundle.policy_set.policies))
    BUNDLE_LOADED.set(bundle.loaded_at.timestamp())
    BUNDLE_LOAD_SECONDS.set(seconds)
    _RELOAD_RESULTS["accepted"].inc()
    for policy in bundle.policy_set.policies:
        if policy.id not in _policies:
            _policies[policy.id] = POLICY_MATCHES.labels(policy.id)


def reload_result(result: str) -> None:
    """A policy load that installed nothing: `rejected` (errors) or `unchanged` (same digest)."""
    _RELOAD_RESULTS[result].inc()


def worker_exited(pid: int) -> None:
    """Forget a dead worker's live gauges (its open streams); its counters still count."""
    directory = os.environ.get(MULTIPROC_ENV)
    if directory:
        multiprocess.mark_process_dead(pid, directory)  # type: ignore[no-untyped-call]


@contextmanager
def exposed(host: str, port: int | None, workers: int) -> Iterator[int | None]:
    """Serve /metrics on host:port while the block runs (port None: not at all); yields the port.

    With several workers, first make the private directory where they write their values
    (inherited through the environment) and serve the sum of them. Raises OSError when the
    address cannot be bound.
    """
    if port is None:
        yield None
        return
    directory = tempfile.mkdtemp(prefix="tamis-metrics-") if workers > 1 else None
    registry: CollectorRegistry = REGISTRY
    if directory is not None:
        os.environ[MULTIPROC_ENV] = directory
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
    try:
        server, thread = start_http_server(port, host, registry=registry)
        try:
            yield int(server.server_port)
        finally:
            server.shutdown()
            server.server_close()
            thread.join()
    finally:
        if directory is not None:
            os.environ.pop(MULTIPROC_ENV, None)
            shutil.rmtree(directory, ignore_errors=True)
