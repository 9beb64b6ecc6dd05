"""Prometheus metrics: a real `tamis serve` scraped over HTTP after real calls, alone and with
--workers 2; the options that expose them; the example alert rules and dashboard in deploy/."""

from __future__ import annotations

import json
import re
import shutil
import signal
import socket
import subprocess
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
import yaml
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from tamis.engine import Evaluator, load_bundle
from tamis.service.server import config as settings
from tamis.service.verdictlog import LogUnavailable, VerdictLog, open_database
from tamis.v1 import policy_service_pb2, policy_service_pb2_grpc
from tests.conftest import POLICIES, ROOT
from tests.test_server_harness import PATIENCE, ServeProcess, proto_listing, sample, serving, wait_until
from tests.test_server_reload import set_new_word
from tests.test_verdictlog_support import TcpProxy, pg_schema, records

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]

BLOCKED = proto_listing(sample("s-003"))  # brass knuckles: block
INVALID = policy_service_pb2.EvaluateRequest(
    listing=proto_listing({"id": "", "title": "x", "ship_to": ["FR"]})
)
#: Over the 2,000-byte limit the servers of these tests are given (--max-listing-bytes).
OVERSIZED = proto_listing({**sample("s-002"), "description": "Lampe de bureau. " * 150})
BRASS_KNUCKLES = "fr.csi.r311-2.a1-14.brass-knuckles"
POLICY, HEALTH = "tamis.v1.PolicyService", "grpc.health.v1.Health"
DEPLOY = ROOT / "deploy"


def scrape(port: int) -> tuple[str, Samples]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=PATIENCE) as response:
        text = response.read().decode()
    samples = {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    return text, samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[name, frozenset(labels.items())]


def started(*arguments: str, env: dict[str, str] | None = None) -> tuple[ServeProcess, int, int]:
    """A serving process with metrics on a free port: (process, gRPC port, metrics port)."""
    process = ServeProcess(
        "--port", "0", "--metrics-port", "0", "--max-listing-bytes", "2000", *arguments, env=env
    )
    metrics_port = int(process.wait_for("metrics listening")[0]["port"])
    grpc_port = int(process.wait_for("listening")[0]["port"])
    return process, grpc_port, metrics_port


def stub(port: int) -> policy_service_pb2_grpc.PolicyServiceStub:
    """A stub on a connection of its own (with --workers, the kernel may pick another worker)."""
    channel = grpc.insecure_channel(f"127.0.0.1:{port}", options=[("grpc.use_local_subchannel_pool", 1)])
    return policy_service_pb2_grpc.PolicyServiceStub(channel)


@pytest.fixture
def pack(tmp_path: Path) -> Path:
    copy = tmp_path / "pack"
    shutil.copytree(POLICIES, copy)
    return copy


def exercise(port: int) -> None:
    """3 blocked listings, 1 invalid one, a stream of 2 messages (each: 1 blocked, 1 invalid,
    1 oversized), GetBundle, a health check."""
    client = stub(port)
    for _ in range(3):
        client.Evaluate(policy_service_pb2.EvaluateRequest(listing=BLOCKED), timeout=PATIENCE)
    with pytest.raises(grpc.RpcError) as refused:
        client.Evaluate(INVALID, timeout=PATIENCE)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    messages = [policy_service_pb2.EvaluateStreamRequest(listings=[BLOCKED, INVALID.listing, OVERSIZED])] * 2
    assert len(list(client.EvaluateStream(iter(messages), timeout=PATIENCE))) == 2
    client.GetBundle(policy_service_pb2.GetBundleRequest(), timeout=PATIENCE)
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=PATIENCE)


def test_a_served_process_counts_its_calls_verdicts_log_and_reloads(tmp_path: Path, pack: Path) -> None:
    process, port, metrics_port = started(
        "--policies", str(pack), "--log", f"sqlite:{tmp_path / 'verdicts.sqlite3'}", "--reload-interval", "0"
    )
    try:
        process.wait_for("bundle loaded")
        exercise(port)
        # a stream is closed when its call's callbacks have run, just after the client's last message
        wait_until(lambda: value(scrape(metrics_port)[1], "tamis_open_streams") == 0, "the stream to close")
        _, samples = scrape(metrics_port)
        assert value(samples, "tamis_requests_total", service=POLICY, method="Evaluate", code="OK") == 3
        assert (
            value(samples, "tamis_requests_total", service=POLICY, method="Evaluate", code="INVALID_ARGUMENT")
            == 1
        )
        assert value(samples, "tamis_requests_total", service=POLICY, method="EvaluateStream", code="OK") == 1
        assert value(samples, "tamis_requests_total", service=POLICY, method="GetBundle", code="OK") == 1
        assert value(samples, "tamis_request_duration_seconds_count", service=POLICY, method="Evaluate") == 4
        assert value(samples, "tamis_requests_total", service=HEALTH, method="Check", code="OK") == 1
        assert value(samples, "tamis_stream_messages_total") == 2
        assert value(samples, "tamis_stream_message_duration_seconds_count") == 2
        assert value(samples, "tamis_verdicts_total", decision="block") == 5
        assert value(samples, "tamis_verdicts_total", decision="allow") == 0
        assert value(samples, "tamis_policy_matches_total", policy=BRASS_KNUCKLES) == 5
        assert value(samples, "tamis_listing_errors_total", kind="invalid") == 3
        assert value(samples, "tamis_listing_errors_total", kind="too_large") == 2
        assert value(samples, "tamis_engine_listings_total") == 8  # the oversized ones never reach it
        assert value(samples, "tamis_engine_seconds_total") > 0
        # 3 unary calls and 2 stream messages: 5 commits of one verdict each
        assert value(samples, "tamis_verdict_log_commit_verdicts_sum") == 5
        assert value(samples, "tamis_verdict_log_commit_duration_seconds_count") == 5
        assert value(samples, "tamis_verdict_log_commit_failures_total") == 0
        first = load_bundle(pack)
        assert value(samples, "tamis_bundle_info", digest=first.digest) == 1
        assert value(samples, "tamis_bundle_policies") == len(first.policy_set.policies)
        assert value(samples, "tamis_bundle_load_duration_seconds") > 0
        assert value(samples, "tamis_bundle_reloads_total", result="accepted") == 1
        # the policy ids are the bundle's, no more
        policies = {
            dict(labels)["policy"] for name, labels in samples if name == "tamis_policy_matches_total"
        }
        assert policies == {policy.id for policy in first.policy_set.policies}

        broken = pack / "broken.yaml"
        broken.write_text("id: [unclosed\n", encoding="utf-8")
        process.signal(signal.SIGHUP)
        process.wait_for("reload rejected")
        _, samples = scrape(metrics_port)
        assert value(samples, "tamis_bundle_reloads_total", result="rejected") == 1
        assert value(samples, "tamis_bundle_info", digest=first.digest) == 1

        broken.unlink()
        set_new_word(pack, present=True)
        process.signal(signal.SIGHUP)
        process.wait_for("bundle loaded", count=2)
        second = load_bundle(pack)
        _, samples = scrape(metrics_port)
        assert value(samples, "tamis_bundle_info", digest=first.digest) == 0
        assert value(samples, "tamis_bundle_info", digest=second.digest) == 1
        assert value(samples, "tamis_bundle_reloads_total", result="accepted") == 2
    finally:
        assert process.stop() == 0


def test_with_two_workers_the_parent_serves_their_sum_and_cleans_up(tmp_path: Path) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    process, port, metrics_port = started("--workers", "2", env={"TMPDIR": str(scratch)})
    try:
        process.wait_for("bundle loaded", count=2)
        assert len(private(scratch)) == 1  # the workers' multiprocess directory
        calls = 12
        for _ in range(calls):
            stub(port).Evaluate(policy_service_pb2.EvaluateRequest(listing=BLOCKED), timeout=PATIENCE)
        _, samples = scrape(metrics_port)
        assert value(samples, "tamis_requests_total", service=POLICY, method="Evaluate", code="OK") == calls
        assert value(samples, "tamis_verdicts_total", decision="block") == calls
        assert value(samples, "tamis_policy_matches_total", policy=BRASS_KNUCKLES) == calls
        assert value(samples, "tamis_bundle_reloads_total", result="accepted") == 2  # one per worker
        assert value(samples, "tamis_bundle_policies") == len(load_bundle(POLICIES).policy_set.policies)
        assert value(samples, "tamis_open_streams") == 0
    finally:
        assert process.stop() == 0
    assert private(scratch) == []


def private(scratch: Path) -> list[Path]:
    return [entry for entry in scratch.iterdir() if entry.name.startswith("tamis-metrics-")]


def test_a_stream_the_caller_cancels_is_counted_once_and_closed() -> None:
    """gRPC stops pulling a cancelled stream's generator: its end comes from the call's
    termination (in-process server; the registry is this process's, so deltas are compared)."""

    def sample_value(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    cancelled = {"service": POLICY, "method": "EvaluateStream", "code": "CANCELLED"}
    # An earlier test's stream may still be closing in this process (seen under load).
    wait_until(lambda: sample_value("tamis_open_streams") == 0, "earlier streams to close")
    before = sample_value("tamis_requests_total", **cancelled)
    hold = threading.Event()

    def messages() -> Iterator[policy_service_pb2.EvaluateStreamRequest]:
        yield policy_service_pb2.EvaluateStreamRequest(listings=[BLOCKED])
        hold.wait(PATIENCE)

    with serving() as served:
        call = served.stub.EvaluateStream(messages(), timeout=PATIENCE)
        next(call)
        assert sample_value("tamis_open_streams") == 1
        call.cancel()
        wait_until(lambda: sample_value("tamis_open_streams") == 0, "the stream to close")
        wait_until(lambda: sample_value("tamis_requests_total", **cancelled) == before + 1, "its end")
        hold.set()
    assert sample_value("tamis_requests_total", **cancelled) == before + 1


def test_the_verdict_log_tells_its_observer_of_each_commit_and_failure(shipped: Evaluator) -> None:
    """Through a relay that is cut: commits before, failures while the database is unreachable."""
    commits: list[tuple[int, bool]] = []
    with pg_schema() as dsn:
        target = conninfo_to_dict(dsn)
        proxy = TcpProxy((str(target.get("host", "127.0.0.1")), int(target.get("port", 5432))))
        log = VerdictLog(
            open_database(make_conninfo(dsn, host="127.0.0.1", port=str(proxy.port))),
            observer=lambda seconds, verdicts, failed: commits.append((verdicts, failed)),
        )
        try:
            log.store_bundle(shipped.bundle)
            log.append(records(shipped)[:3])
            with proxy.stopped(), pytest.raises(LogUnavailable):
                log.append(records(shipped)[:2])
        finally:
            log.close()
            proxy.stop()
    assert commits == [(3, False), (2, True)]  # storing the bundle wrote no verdict: not a commit


def test_a_taken_metrics_port_stops_the_server_at_once() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        process = ServeProcess("--port", "0", "--metrics-port", str(taken.getsockname()[1]))
        assert process.process.wait(timeout=PATIENCE) == 3
        process.stop()
    assert process.events("cannot listen for metrics")


def test_metrics_are_off_by_default_and_on_loopback_unless_made_public() -> None:
    assert settings.resolve(environ={}).metrics_port is None
    assert settings.resolve(environ={"TAMIS_METRICS_PORT": "off"}).metrics_port is None
    assert settings.resolve(environ={"TAMIS_METRICS_PORT": "9464"}).metrics_port == 9464
    with pytest.raises(settings.ConfigError, match="not a loopback address"):
        settings.resolve(environ={"TAMIS_METRICS_PORT": "9464", "TAMIS_METRICS_HOST": "0.0.0.0"})
    public = settings.resolve(
        environ={
            "TAMIS_METRICS_PORT": "9464",
            "TAMIS_METRICS_HOST": "0.0.0.0",
            "TAMIS_METRICS_PUBLIC": "true",
        }
    )
    assert public.metrics_host == "0.0.0.0"
    assert (
        settings.resolve(environ={"TAMIS_METRICS_HOST": "::1", "TAMIS_METRICS_PORT": "0"}).metrics_port == 0
    )
    with pytest.raises(settings.ConfigError, match="TAMIS_METRICS_PORT: must be a port number"):
        settings.resolve(environ={"TAMIS_METRICS_PORT": "70000"})


# --- deploy/ -------------------------------------------------------------------------------------

_SELECTOR = re.compile(r"\b(tamis_[a-z0-9_]+)(?:\{([^}]*)\})?")
_LABEL = re.compile(r"([a-z_]+)\s*(?:=~|!=|!~|=)")


def deploy_expressions() -> Iterator[tuple[str, str]]:
    """(file, PromQL expression) for every alert rule and dashboard query in deploy/."""
    rules = yaml.safe_load((DEPLOY / "prometheus" / "tamis-alerts.yml").read_text(encoding="utf-8"))
    for group in rules["groups"]:
        for rule in group["rules"]:
            yield "tamis-alerts.yml", rule["expr"]
    dashboard = json.loads((DEPLOY / "grafana" / "tamis-dashboard.json").read_text(encoding="utf-8"))
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            yield "tamis-dashboard.json", target["expr"]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            yield "tamis-dashboard.json", variable["query"]


@pytest.fixture(scope="module")
def exposition() -> Iterator[Samples]:
    """The metrics of a server that has served every kind of call."""
    process, port, metrics_port = started()
    try:
        process.wait_for("bundle loaded")
        exercise(port)
        yield scrape(metrics_port)[1]
    finally:
        process.stop()


def test_every_metric_and_label_in_deploy_exists(exposition: Samples) -> None:
    labels_of: dict[str, set[str]] = {}
    for name, labels in exposition:
        labels_of.setdefault(name, set()).update(key for key, _ in labels)
    checked = 0
    for source, expression in deploy_expressions():
        for name, selector in _SELECTOR.findall(expression):
            assert name in labels_of, f"{source}: {name} is not in the exposition"
            unknown = set(_LABEL.findall(selector or "")) - labels_of[name] - {"job", "instance"}
            assert not unknown, f"{source}: {name} has no label {unknown}"
            checked += 1
    assert checked > 20


def test_promtool_accepts_the_alert_rules() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian: apt-get install prometheus)")
    result = subprocess.run(
        [promtool, "check", "rules", str(DEPLOY / "prometheus" / "tamis-alerts.yml")],
        capture_output=True,
        text=True,
        timeout=PATIENCE,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
