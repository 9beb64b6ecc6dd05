"""A real Tamis server on a free local port for the gRPC tests, and the tests of its lifecycle.

`serving()` runs the server in this process on port 0 (most tests); `ServeProcess` runs
`tamis serve` as a subprocess (signals, workers) and reads its JSON log lines.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import json_format
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tamis.service.server import logs
from tamis.service.server.app import POLICY_SERVICE, TamisServer
from tamis.service.server.config import ServeConfig
from tamis.service.server.sink import MemorySink, VerdictSink
from tamis.v1 import listing_pb2, policy_service_pb2, policy_service_pb2_grpc
from tests.conftest import POLICIES, ROOT, samples

#: Upper bound for waits on a server's progress: a safety net, never an assertion on speed.
PATIENCE = 60.0

TAMIS = Path(sys.executable).parent / "tamis"


class LogCapture(io.StringIO):
    """The JSON log lines a server wrote, parsed."""

    def events(self, event: str | None = None) -> list[dict[str, Any]]:
        lines = [json.loads(line) for line in self.getvalue().splitlines() if line.strip()]
        return [line for line in lines if event is None or line["event"] == event]


@dataclass
class Served:
    """An in-process server and a client of it."""

    server: TamisServer
    sink: MemorySink
    channel: grpc.Channel
    stub: policy_service_pb2_grpc.PolicyServiceStub
    log: LogCapture

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.server.port}"

    def health(self, service: str = "") -> int:
        response = health_pb2_grpc.HealthStub(self.channel).Check(
            health_pb2.HealthCheckRequest(service=service), timeout=PATIENCE
        )
        status: int = response.status
        return status


@contextmanager
def serving(policies: Path = POLICIES, sink: VerdictSink | None = None, **options: Any) -> Iterator[Served]:
    """A started server on 127.0.0.1, port 0, logging JSON into a capture; stopped on exit."""
    log = LogCapture()
    logs.configure("json", "info", stream=log)
    config = replace(
        ServeConfig(host="127.0.0.1", port=0, policies=policies, reload_interval=0, log="off"), **options
    )
    memory = MemorySink()
    server = TamisServer(config, sink or memory)
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{server.port}")
    try:
        yield Served(server, memory, channel, policy_service_pb2_grpc.PolicyServiceStub(channel), log)
    finally:
        channel.close()
        server.stop(grace=5)


def proto_listing(data: dict[str, Any]) -> listing_pb2.Listing:
    """A Listing message from the contract's JSON object (through the proto3 JSON mapping)."""
    return json_format.ParseDict(data, listing_pb2.Listing())


def sample(listing_id: str) -> dict[str, Any]:
    return next(item for item in samples() if item["id"] == listing_id)


def wait_until(condition: Callable[[], bool], what: str) -> None:
    """Block until `condition()` holds (checked every 20 ms); fail after PATIENCE seconds."""
    done = threading.Event()
    deadline = PATIENCE / 0.02
    for _ in range(int(deadline)):
        if condition():
            return
        done.wait(0.02)
    pytest.fail(f"gave up waiting for {what}")


class ServeProcess:
    """`tamis serve` in a subprocess, with its JSON log lines collected as they come."""

    def __init__(self, *arguments: str, env: dict[str, str] | None = None) -> None:
        self.lines: list[dict[str, Any]] = []
        self.terminated = False
        self._lock = threading.Lock()
        self.process = subprocess.Popen(
            [str(TAMIS), "serve", "--host", "127.0.0.1", "--log-format", "json", *arguments],
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "TAMIS_LOG": "off", **(env or {})},  # tests that log name their own
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            try:
                parsed = json.loads(line)
            except json.JSONDecodeError:
                parsed = {"event": "raw", "text": line}
            with self._lock:
                self.lines.append(parsed)

    def events(self, event: str) -> list[dict[str, Any]]:
        with self._lock:
            return [line for line in self.lines if line.get("event") == event]

    def wait_for(self, event: str, count: int = 1, **fields: Any) -> list[dict[str, Any]]:
        def found() -> list[dict[str, Any]]:
            return [e for e in self.events(event) if all(e.get(k) == v for k, v in fields.items())]

        wait_until(lambda: len(found()) >= count or self.process.poll() is not None, f"log event {event!r}")
        if len(found()) < count:
            pytest.fail(f"tamis serve exited ({self.process.returncode}) before {event!r}: {self.lines}")
        return found()

    def signal(self, signum: int) -> None:
        self.terminated = self.terminated or signum == signal.SIGTERM
        self.process.send_signal(signum)

    def stop(self) -> int:
        """SIGTERM (unless sent already), then the exit code."""
        if not self.terminated:
            self.signal(signal.SIGTERM)
        code = self.process.wait(timeout=PATIENCE)
        self._reader.join(timeout=PATIENCE)
        return code


# --- lifecycle ---------------------------------------------------------------------------------


def test_serving_once_the_bundle_is_loaded() -> None:
    """Health reports SERVING, overall and for PolicyService, once the bundle has loaded."""
    with serving() as served:
        assert served.health() == health_pb2.HealthCheckResponse.SERVING
        assert served.health(POLICY_SERVICE) == health_pb2.HealthCheckResponse.SERVING


def test_health_turns_serving_when_a_valid_pack_appears(tmp_path: Path) -> None:
    """NOT_SERVING (and UNAVAILABLE) while the pack is missing; SERVING once it is there."""
    pack = tmp_path / "pack"
    with serving(pack, reload_interval=0.05) as served:
        watch = health_pb2_grpc.HealthStub(served.channel).Watch(
            health_pb2.HealthCheckRequest(service=POLICY_SERVICE), timeout=PATIENCE
        )
        assert next(watch).status == health_pb2.HealthCheckResponse.NOT_SERVING
        with pytest.raises(grpc.RpcError) as refused:
            served.stub.Evaluate(
                policy_service_pb2.EvaluateRequest(listing=proto_listing(sample("s-003"))), timeout=PATIENCE
            )
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
        shutil.copytree(POLICIES, pack)
        assert next(watch).status == health_pb2.HealthCheckResponse.SERVING
        watch.cancel()
        verdict = served.stub.Evaluate(
            policy_service_pb2.EvaluateRequest(listing=proto_listing(sample("s-003"))), timeout=PATIENCE
        ).verdict
        assert verdict.listing_id == "s-003"


def test_stop_flushes_the_sink() -> None:
    """Stopping the server closes (flushes) the verdict sink."""
    with serving() as served:
        pass
    assert served.sink.closed
