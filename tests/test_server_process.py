"""`tamis serve` as a process: SIGTERM drains, SIGHUP reloads, --workers shares one port."""

from __future__ import annotations

import queue
import shutil
import signal
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from tamis.engine import load_bundle
from tamis.v1 import policy_service_pb2, policy_service_pb2_grpc
from tests.conftest import POLICIES
from tests.test_grpc_errors import raw_stream, stream_message, with_bad_utf8
from tests.test_server_harness import PATIENCE, ServeProcess, proto_listing, sample, wait_until
from tests.test_server_reload import set_new_word

EVALUATE = policy_service_pb2.EvaluateRequest(listing=proto_listing(sample("s-003")))


def started(*arguments: str) -> tuple[ServeProcess, int]:
    """A serving process and its port."""
    process = ServeProcess("--port", "0", *arguments)
    (listening,) = process.wait_for("listening")[:1]
    process.wait_for("bundle loaded")
    return process, int(listening["port"])


def channel(port: int) -> grpc.Channel:
    """A channel with its own connection (not shared with other channels to the same port)."""
    return grpc.insecure_channel(f"127.0.0.1:{port}", options=[("grpc.use_local_subchannel_pool", 1)])


@pytest.fixture
def pack(tmp_path: Path) -> Path:
    copy = tmp_path / "pack"
    shutil.copytree(POLICIES, copy)
    return copy


def test_sigterm_lets_in_flight_calls_finish(pack: Path) -> None:
    """Under load, SIGTERM: every call the server started completes and reaches its client, the
    others are refused unjudged, and the process exits 0.

    gRPC core refuses calls that arrive during shutdown before a handler takes them with
    CANCELLED (and, once the port is closed, clients get UNAVAILABLE); none was judged.
    """
    process, port = started("--policies", str(pack))
    answered: list[int] = []
    refused: list[grpc.StatusCode] = []
    lock = threading.Lock()

    def client() -> None:
        with channel(port) as connection:
            stub = policy_service_pb2_grpc.PolicyServiceStub(connection)
            while True:
                try:
                    stub.Evaluate(EVALUATE, timeout=PATIENCE)
                except grpc.RpcError as error:
                    assert isinstance(error, grpc.Call)
                    with lock:
                        refused.append(error.code())
                    return
                with lock:
                    answered.append(1)

    clients = [threading.Thread(target=client) for _ in range(4)]
    for thread in clients:
        thread.start()
    wait_until(lambda: len(answered) >= 200, "calls before SIGTERM")
    process.signal(signal.SIGTERM)
    for thread in clients:
        thread.join()
    assert process.stop() == 0
    assert set(refused) <= {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED}
    served_ok = [e for e in process.events("request") if e["method"] == "Evaluate" and e["code"] == "OK"]
    assert len(served_ok) == len(answered)
    assert process.events("stopped")


def test_sigterm_ends_a_stream_between_messages(pack: Path) -> None:
    """A stream open at SIGTERM keeps its answered messages; the next one is refused UNAVAILABLE."""
    process, port = started("--policies", str(pack))
    outbox: queue.Queue[policy_service_pb2.EvaluateStreamRequest | None] = queue.Queue()

    def requests() -> Iterator[policy_service_pb2.EvaluateStreamRequest]:
        while (message := outbox.get()) is not None:
            yield message

    message = policy_service_pb2.EvaluateStreamRequest(listings=[proto_listing(sample("s-003"))])
    with channel(port) as connection:
        responses = policy_service_pb2_grpc.PolicyServiceStub(connection).EvaluateStream(
            requests(), timeout=PATIENCE
        )
        outbox.put(message)
        assert next(responses).results[0].verdict.listing_id == "s-003"
        process.signal(signal.SIGTERM)
        process.wait_for("stopping")
        outbox.put(message)
        with pytest.raises(grpc.RpcError) as raised:
            next(responses)
        outbox.put(None)
    assert isinstance(raised.value, grpc.Call)
    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "shutting down after answering 1 message" in (raised.value.details() or "")
    assert process.stop() == 0


def test_sigterm_stops_after_streams_of_undecodable_messages(pack: Path, tmp_path: Path) -> None:
    """Streams whose messages protobuf cannot decode are answered and ended like any other: they
    once left calls half-finished in gRPC, and SIGTERM after eight of them never ended the process."""
    log = f"sqlite:{tmp_path / 'verdicts.sqlite3'}"
    process, port = started("--policies", str(pack), "--log", log, "--grace", "5")
    bad = stream_message(proto_listing(sample("s-003")).SerializeToString(), with_bad_utf8("bad"))
    with channel(port) as connection:
        for _ in range(8):
            (response,) = raw_stream(connection)(iter([bad]), timeout=PATIENCE)
            assert response.results[0].error.message.startswith("message 0 could not be decoded")
    process.wait_for("stream", count=8)
    assert process.stop() == 0
    assert process.events("stopped")


def test_sighup_reloads_the_policies(pack: Path) -> None:
    """With polling off, SIGHUP loads the changed pack."""
    process, port = started("--policies", str(pack), "--reload-interval", "0")
    set_new_word(pack, present=True)
    process.signal(signal.SIGHUP)
    (loaded,) = process.wait_for("bundle loaded", reason="signal")
    with channel(port) as connection:
        bundle = (
            policy_service_pb2_grpc.PolicyServiceStub(connection)
            .GetBundle(policy_service_pb2.GetBundleRequest(), timeout=PATIENCE)
            .bundle
        )
    assert bundle.digest == loaded["bundle"] == load_bundle(pack).digest
    assert process.stop() == 0


def test_two_workers_serve_one_port() -> None:
    """--workers 2: two processes, each with its own engine, answer on the same port."""
    process = ServeProcess("--port", "0", "--workers", "2")
    loaded = process.wait_for("bundle loaded", count=2)
    pids = {event["pid"] for event in loaded}
    port = process.wait_for("listening", count=2)[0]["port"]
    assert len(pids) == 2
    for number in range(40):  # connections are spread by the kernel; each channel is one connection
        request = policy_service_pb2.EvaluateRequest(
            listing=proto_listing({**sample("s-003"), "id": f"w-{number}"})
        )
        with channel(port) as connection:
            policy_service_pb2_grpc.PolicyServiceStub(connection).Evaluate(request, timeout=PATIENCE)
    wait_until(lambda: len(process.events("request")) == 40, "the request logs")
    assert {event["pid"] for event in process.events("request")} == pids
    assert process.stop() == 0
    assert {event["pid"] for event in process.events("stopped")} == pids


def test_a_taken_port_is_reported_and_ends_the_process() -> None:
    """When the address is taken, `tamis serve` says so and exits 3 rather than hanging."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        process = ServeProcess("--port", str(taken.getsockname()[1]))
        code = process.process.wait(timeout=PATIENCE)
        process.stop()
    assert code == 3
    assert process.events("cannot listen")
