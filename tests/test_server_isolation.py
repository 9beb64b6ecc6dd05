"""Audit work and idle streams cannot harm serving: replays and verifications run in worker
processes with a per-caller limit; streams have a per-caller limit and an idle timeout."""

from __future__ import annotations

import multiprocessing
import os
import secrets
import threading
from collections.abc import Iterator
from pathlib import Path
from queue import Queue

import grpc
import psycopg
import pytest

from tamis.service.server import logs
from tamis.service.server.app import TamisServer
from tamis.service.server.config import ServeConfig
from tamis.service.verdictlog import open_database
from tamis.service.verdictlog.sink import LogSink
from tamis.v1 import audit_pb2, audit_pb2_grpc, policy_service_pb2, policy_service_pb2_grpc
from tests.conftest import POLICIES, samples
from tests.test_server_harness import PATIENCE, LogCapture, proto_listing, serving, wait_until
from tests.test_server_trust import CHECKOUT, COMPLIANCE, secured
from tests.test_verdictlog_support import pg_schema

pytest_plugins = ["tests.test_verdictlog_support"]

APPLICATION = f"tamis-test-{secrets.token_hex(4)}"


def _message(listing_id: str = "s-003") -> policy_service_pb2.EvaluateStreamRequest:
    listing = next(item for item in samples() if item["id"] == listing_id)
    return policy_service_pb2.EvaluateStreamRequest(listings=[proto_listing(listing)], as_of="2025-11-20")


class HeldStream:
    """A stream whose requests the test sends one at a time."""

    def __init__(self, stub: policy_service_pb2_grpc.PolicyServiceStub) -> None:
        self._requests: Queue[policy_service_pb2.EvaluateStreamRequest | None] = Queue()
        self.responses = stub.EvaluateStream(iter(self._requests.get, None), timeout=PATIENCE)

    def send(self) -> policy_service_pb2.EvaluateStreamResponse:
        self._requests.put(_message())
        response: policy_service_pb2.EvaluateStreamResponse = next(self.responses)
        return response

    def close(self) -> None:
        self._requests.put(None)


def test_replay_runs_in_a_worker_process(tmp_path: Path) -> None:
    """ReplayVerdict answers from a spawned worker process; the serving process compiles no bundle
    for it (its own audit log's replayer stays empty)."""
    location = f"sqlite:{tmp_path / 'verdicts.sqlite3'}"
    with serving(POLICIES, sink=LogSink(open_database(location)), log=location) as served:
        verdict = served.stub.Evaluate(
            policy_service_pb2.EvaluateRequest(listing=proto_listing(samples()[0]), as_of="2025-11-20"),
            timeout=PATIENCE,
        ).verdict
        audit = audit_pb2_grpc.AuditServiceStub(served.channel)
        replay = audit.ReplayVerdict(
            audit_pb2.ReplayVerdictRequest(verdict_id=verdict.verdict_id), timeout=PATIENCE
        )
        workers = [child for child in multiprocessing.active_children() if child.pid != os.getpid()]
        assert replay.identical
        assert workers, "no worker process"
        assert served.server.audit is not None
        assert served.server.audit._replayer._evaluators == {}  # nothing compiled here


@pytest.fixture
def locked_log(tmp_path: Path) -> Iterator[tuple[str, psycopg.Connection[object]]]:
    """A PostgreSQL log, and a connection that can lock it against every reader; the log's sessions
    carry an application name of their own, so the test can tell when they wait."""
    with pg_schema() as schema:
        dsn = f"{schema}&application_name={APPLICATION}"
        with psycopg.connect(dsn) as locker:
            yield dsn, locker


def test_a_caller_may_not_pile_up_audit_calls(
    tmp_path: Path, locked_log: tuple[str, psycopg.Connection[object]]
) -> None:
    """With audit_calls_per_caller = 1, a second VerifyLog from the caller whose first one is still
    running is refused at once (RESOURCE_EXHAUSTED); another caller is still let through."""
    location, locker = locked_log
    with secured(
        tmp_path, sink=LogSink(open_database(location)), log=location, audit_calls_per_caller=1
    ) as secure:
        auditor = secure.authority.client(dns=[COMPLIANCE])
        other = secure.authority.client("ops.market.example")
        locker.execute("LOCK TABLE writers IN ACCESS EXCLUSIVE MODE")  # verify waits on it
        results: Queue[object] = Queue()
        with secure.channel(auditor) as first_channel, secure.channel(auditor) as second_channel:
            first = audit_pb2_grpc.AuditServiceStub(first_channel)
            thread = threading.Thread(
                target=lambda: results.put(first.VerifyLog(audit_pb2.VerifyLogRequest(), timeout=PATIENCE))
            )
            thread.start()
            wait_until(lambda: _waiting_on_a_lock(location), "the first verify to wait on the lock")
            with pytest.raises(grpc.RpcError) as refused:
                audit_pb2_grpc.AuditServiceStub(second_channel).VerifyLog(
                    audit_pb2.VerifyLogRequest(), timeout=PATIENCE
                )
            assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            with secure.channel(other) as other_channel:
                stub = audit_pb2_grpc.AuditServiceStub(other_channel)
                answer = stub.VerifyLog.future(audit_pb2.VerifyLogRequest(), timeout=PATIENCE)
                locker.rollback()
                assert answer.result().ok
            thread.join(PATIENCE)
        verified = results.get(timeout=PATIENCE)
        assert isinstance(verified, audit_pb2.VerifyLogResponse) and verified.ok


def _waiting_on_a_lock(dsn: str) -> bool:
    with psycopg.connect(dsn, autocommit=True) as probe:
        row = probe.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND application_name = %s",
            (APPLICATION,),
        ).fetchone()
    return bool(row and row[0])


def test_a_caller_may_hold_only_so_many_streams(tmp_path: Path) -> None:
    """max_streams_per_caller counts the streams of one identity over all its connections."""
    with secured(tmp_path, max_streams_per_caller=2) as secure:
        checkout = secure.authority.client(uris=[CHECKOUT])
        channels = [secure.channel(checkout) for _ in range(3)]
        held = [HeldStream(policy_service_pb2_grpc.PolicyServiceStub(channel)) for channel in channels[:2]]
        for stream in held:
            assert stream.send().results[0].listing_id == "s-003"
        third = HeldStream(policy_service_pb2_grpc.PolicyServiceStub(channels[2]))
        with pytest.raises(grpc.RpcError) as refused:
            third.send()
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "2 streams open already" in (refused.value.details() or "")
        held[0].close()
        list(held[0].responses)
        # gRPC frees the slot when the call ends on the server, a moment after the client sees it end.
        opened: list[HeldStream] = []
        wait_until(lambda: _opens(channels[2], opened), "the closed stream's slot")
        (again,) = opened
        for stream in (held[1], again):
            stream.close()
        for channel in channels:
            channel.close()


def _opens(channel: grpc.Channel, opened: list[HeldStream]) -> bool:
    """Whether a new stream on `channel` is answered (kept in `opened`) rather than refused."""
    stream = HeldStream(policy_service_pb2_grpc.PolicyServiceStub(channel))
    try:
        assert stream.send().results[0].listing_id == "s-003"
    except grpc.RpcError as error:
        assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        stream.close()
        return False
    opened.append(stream)
    return True


def test_an_idle_stream_is_cancelled() -> None:
    """A stream that sends nothing for stream_idle_timeout seconds is cancelled and logged."""
    with serving(stream_idle_timeout=0.2) as served:
        stream = HeldStream(served.stub)
        assert stream.send().results[0].listing_id == "s-003"
        with pytest.raises(grpc.RpcError) as ended:
            next(stream.responses)
        assert ended.value.code() == grpc.StatusCode.CANCELLED
        wait_until(lambda: bool(served.log.events("stream idle; cancelled")), "the idle event")
        stream.close()


def test_a_huge_verdict_id_is_refused_without_being_echoed(tmp_path: Path) -> None:
    """A megabyte where a verdict id belongs: INVALID_ARGUMENT, and the message stays short."""
    location = f"sqlite:{tmp_path / 'verdicts.sqlite3'}"
    with serving(POLICIES, sink=LogSink(open_database(location)), log=location) as served:
        audit = audit_pb2_grpc.AuditServiceStub(served.channel)
        with pytest.raises(grpc.RpcError) as refused:
            audit.GetVerdict(audit_pb2.GetVerdictRequest(verdict_id="x" * (1 << 20)), timeout=PATIENCE)
        (event,) = served.log.events("audit")
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert len(refused.value.details() or "") < 200
    assert len(event["verdict_id"]) < 200


def test_a_verification_under_way_does_not_hold_shutdown(
    locked_log: tuple[str, psycopg.Connection[object]],
) -> None:
    """Stopping the server abandons a VerifyLog stuck in its worker (UNAVAILABLE for its caller)
    and ends the worker, instead of waiting for it."""
    location, locker = locked_log
    logs.configure("json", "info", stream=LogCapture())
    config = ServeConfig(port=0, policies=POLICIES, log=location, reload_interval=0)
    server = TamisServer(config, LogSink(open_database(location)))
    server.start()
    locker.execute("LOCK TABLE writers IN ACCESS EXCLUSIVE MODE")
    try:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            answer = audit_pb2_grpc.AuditServiceStub(channel).VerifyLog.future(
                audit_pb2.VerifyLogRequest(), timeout=PATIENCE
            )
            wait_until(lambda: _waiting_on_a_lock(location), "the verify to wait on the lock")
            stopper = threading.Thread(target=server.stop, args=(0,))
            stopper.start()
            stopper.join(PATIENCE)
            assert not stopper.is_alive(), "stop waited for the verification"
            with pytest.raises(grpc.RpcError) as ended:
                answer.result()
            assert ended.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED)
    finally:
        locker.rollback()
