"""`tamis serve --log …` as a process: killed mid-stream it loses no acknowledged verdict, and
several workers share one log, each with a chain of its own."""

from __future__ import annotations

import itertools
import signal
from collections.abc import Iterator

import grpc

from tamis.v1 import audit_pb2, audit_pb2_grpc, policy_service_pb2, policy_service_pb2_grpc
from tests.conftest import samples
from tests.test_server_harness import PATIENCE, proto_listing
from tests.test_server_process import channel, started

pytest_plugins = ["tests.test_verdictlog_support"]

AS_OF = "2025-11-20"
BATCH = 25


def _batches() -> Iterator[policy_service_pb2.EvaluateStreamRequest]:
    """An endless stream of batches of distinct listings."""
    numbers = itertools.count()
    base = samples()
    while True:
        listings = [dict(base[n % len(base)], id=f"k-{n}") for n in itertools.islice(numbers, BATCH)]
        yield policy_service_pb2.EvaluateStreamRequest(
            listings=[proto_listing(listing) for listing in listings], as_of=AS_OF
        )


def test_a_killed_server_loses_no_acknowledged_verdict(log_location: str) -> None:
    """SIGKILL in the middle of a stream; after a restart every verdict id the client received
    is in the log, and every chain verifies."""
    process, port = started("--log", log_location)
    received: list[str] = []
    with channel(port) as connection:
        responses = policy_service_pb2_grpc.PolicyServiceStub(connection).EvaluateStream(
            _batches(), timeout=PATIENCE
        )
        try:
            for response in responses:
                received += [result.verdict.verdict_id for result in response.results]
                if len(received) >= 20 * BATCH and process.process.poll() is None:
                    process.process.send_signal(signal.SIGKILL)  # more messages are on their way
        except grpc.RpcError as error:
            assert error.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED), error
    assert process.process.wait(timeout=PATIENCE) == -signal.SIGKILL
    restarted, port = started("--log", log_location)
    try:
        with channel(port) as connection:
            audit = audit_pb2_grpc.AuditServiceStub(connection)
            for verdict_id in received:
                found = audit.GetVerdict(audit_pb2.GetVerdictRequest(verdict_id=verdict_id), timeout=PATIENCE)
                assert found.verdict.verdict.verdict_id == verdict_id
            report = audit.VerifyLog(audit_pb2.VerifyLogRequest(), timeout=PATIENCE)
    finally:
        restarted.stop()
    assert report.ok, report.problems
    assert report.verdicts >= len(received) >= 20 * BATCH
    assert len(report.heads) == 2  # the killed writer's chain, and the restarted server's


def test_workers_share_one_log_with_a_chain_each(log_location: str) -> None:
    """Two worker processes on one port log into one database; each is a writer with its own
    chain, every verdict returned is logged, and the log verifies."""
    process, port = started("--workers", "2", "--log", log_location)
    process.wait_for("bundle loaded", count=2)
    ids = []
    try:
        for number in range(8):
            with channel(port) as connection:  # a connection of its own: the kernel picks a worker
                stub = policy_service_pb2_grpc.PolicyServiceStub(connection)
                listing = dict(samples()[number], id=f"w-{number}")
                request = policy_service_pb2.EvaluateRequest(listing=proto_listing(listing), as_of=AS_OF)
                ids.append(stub.Evaluate(request, timeout=PATIENCE).verdict.verdict_id)
        with channel(port) as connection:
            report = audit_pb2_grpc.AuditServiceStub(connection).VerifyLog(
                audit_pb2.VerifyLogRequest(), timeout=PATIENCE
            )
    finally:
        assert process.stop() == 0
    assert report.ok, report.problems
    assert report.verdicts == len(set(ids)) == 8
    assert len(report.heads) == 2
    assert sum(head.seq for head in report.heads) == 8
