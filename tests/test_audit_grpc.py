"""tamis.v1.AuditService over a real server: query, fetch, verify and replay the verdict log."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from google.protobuf import timestamp_pb2

from tamis.service.verdictlog import AuditLog, VerdictQuery, open_database
from tamis.service.verdictlog.ids import id_time
from tamis.service.verdictlog.sink import LogSink
from tamis.v1 import audit_pb2, audit_pb2_grpc, policy_service_pb2, verdict_pb2
from tests.conftest import POLICIES, samples
from tests.test_server_harness import PATIENCE, Served, proto_listing, serving
from tests.test_verdictlog_support import tamper

pytest_plugins = ["tests.test_verdictlog_support"]

AS_OF = "2025-11-20"


@dataclass
class Logged:
    """A server logging to `location`, its AuditService, and the verdicts it returned."""

    served: Served
    audit: audit_pb2_grpc.AuditServiceStub
    location: str
    verdicts: list[verdict_pb2.Verdict]


@pytest.fixture
def logged(log_location: str) -> Iterator[Logged]:
    with serving(POLICIES, sink=LogSink(open_database(log_location)), log=log_location) as served:
        verdicts = [
            served.stub.Evaluate(
                policy_service_pb2.EvaluateRequest(listing=proto_listing(listing), as_of=AS_OF),
                timeout=PATIENCE,
            ).verdict
            for listing in samples()
        ]
        yield Logged(served, audit_pb2_grpc.AuditServiceStub(served.channel), log_location, verdicts)


def _query(logged: Logged, **fields: Any) -> audit_pb2.QueryVerdictsResponse:
    response: audit_pb2.QueryVerdictsResponse = logged.audit.QueryVerdicts(
        audit_pb2.QueryVerdictsRequest(**fields), timeout=PATIENCE
    )
    return response


def _refused(call: Any, request: Any) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as error:
        call(request, timeout=PATIENCE)
    code: grpc.StatusCode = error.value.code()
    return code


def test_query_filters_and_pages_like_the_library(logged: Logged, audit: AuditLog) -> None:
    """Filters reach the log (decision as the enum, times as Timestamps); pages chain by token."""
    since = timestamp_pb2.Timestamp()
    since.FromDatetime(id_time(logged.verdicts[0].verdict_id))
    fields = {
        "decision": verdict_pb2.DECISION_BLOCK,
        "policy": "eu.dsa.30.trader-traceability",
        "since": since,
    }
    first = _query(logged, page_size=2, **fields)
    second = _query(logged, page_size=50, page_token=first.next_page_token, **fields)
    expected = audit.query(VerdictQuery(decision="block", policy="eu.dsa.30.trader-traceability")).verdicts
    listed = [item.verdict.verdict_id for item in [*first.verdicts, *second.verdicts]]
    assert listed == [verdict.id for verdict in expected]
    assert second.next_page_token == ""
    article = _query(logged, instrument="celex:32014L0040", article="17")
    assert [item.verdict.listing_id for item in article.verdicts] == ["s-009"]


def test_a_logged_verdict_is_what_the_caller_got(logged: Logged) -> None:
    """GetVerdict returns the verdict as returned, the canonical request and its chain link."""
    returned = logged.verdicts[2]
    found = logged.audit.GetVerdict(
        audit_pb2.GetVerdictRequest(verdict_id=returned.verdict_id), timeout=PATIENCE
    ).verdict
    assert found.verdict == returned
    assert found.seller_id == "sel-90"
    assert '"id":"s-003"' in found.canonical_request
    assert found.chain.seq == 3
    assert len(found.chain.hash) == 64


def test_unknown_and_malformed_requests_get_their_codes(logged: Logged) -> None:
    """An unknown id is NOT_FOUND; a malformed id, token, filter or page size INVALID_ARGUMENT."""
    unknown = "01890000-0000-7000-8000-000000000000"
    assert _refused(logged.audit.GetVerdict, audit_pb2.GetVerdictRequest(verdict_id=unknown)) == (
        grpc.StatusCode.NOT_FOUND
    )
    assert _refused(logged.audit.ReplayVerdict, audit_pb2.ReplayVerdictRequest(verdict_id=unknown)) == (
        grpc.StatusCode.NOT_FOUND
    )
    for request in (
        audit_pb2.QueryVerdictsRequest(article="17"),
        audit_pb2.QueryVerdictsRequest(page_token="next"),
        audit_pb2.QueryVerdictsRequest(page_size=5000),
    ):
        assert _refused(logged.audit.QueryVerdicts, request) == grpc.StatusCode.INVALID_ARGUMENT
    assert _refused(logged.audit.GetVerdict, audit_pb2.GetVerdictRequest(verdict_id="s-001")) == (
        grpc.StatusCode.INVALID_ARGUMENT
    )


def test_verify_log_reports_a_tampered_record(logged: Logged) -> None:
    """VerifyLog is ok on the untouched log and names the record an intruder changed."""
    report = logged.audit.VerifyLog(audit_pb2.VerifyLogRequest(), timeout=PATIENCE)
    assert (report.ok, report.verdicts, report.bundles, len(report.heads)) == (True, len(samples()), 1, 1)
    target = logged.verdicts[4].verdict_id
    tamper(logged.location, ("UPDATE verdicts SET decision = 'allow' WHERE id = ?", (target,)))
    report = logged.audit.VerifyLog(audit_pb2.VerifyLogRequest(), timeout=PATIENCE)
    assert not report.ok
    assert [problem.verdict_id for problem in report.problems] == [target]
    assert report.problems[0].seq == 5


def test_replay_verdict_compares_decision_and_grounds(logged: Logged) -> None:
    """A logged verdict replays identical; one whose stored decision was changed does not."""
    target = logged.verdicts[8]
    replay = logged.audit.ReplayVerdict(
        audit_pb2.ReplayVerdictRequest(verdict_id=target.verdict_id), timeout=PATIENCE
    )
    assert (replay.identical, replay.decision_identical, replay.grounds_identical) == (True, True, True)
    assert replay.replayed.matches == target.matches
    tamper(logged.location, ("UPDATE verdicts SET decision = 'flag' WHERE id = ?", (target.verdict_id,)))
    replay = logged.audit.ReplayVerdict(
        audit_pb2.ReplayVerdictRequest(verdict_id=target.verdict_id), timeout=PATIENCE
    )
    assert (replay.identical, replay.decision_identical) == (False, False)
    assert list(replay.differences) == ["decision: flag then, block on replay"]


def test_without_a_log_the_audit_service_says_so() -> None:
    """With --log off every AuditService call ends FAILED_PRECONDITION."""
    with serving(log="off") as served:
        stub = audit_pb2_grpc.AuditServiceStub(served.channel)
        assert _refused(stub.VerifyLog, audit_pb2.VerifyLogRequest()) == grpc.StatusCode.FAILED_PRECONDITION


def test_the_cli_json_names_the_message_fields(logged: Logged, audit: AuditLog) -> None:
    """`tamis audit --json` objects have exactly the fields of LoggedVerdict, ChainLink,
    VerifyLogResponse and ReplayVerdictResponse."""
    logged_verdict = audit.get(logged.verdicts[0].verdict_id)
    assert logged_verdict is not None
    as_json = logged_verdict.to_dict()
    assert set(as_json) == set(audit_pb2.LoggedVerdict.DESCRIPTOR.fields_by_name)
    assert set(as_json["chain"]) == set(audit_pb2.ChainLink.DESCRIPTOR.fields_by_name)
    assert set(as_json["verdict"]) == set(verdict_pb2.Verdict.DESCRIPTOR.fields_by_name)
    report = audit.verify().to_dict()
    assert set(report) == set(audit_pb2.VerifyLogResponse.DESCRIPTOR.fields_by_name)
    assert set(report["heads"][0]) == set(audit_pb2.ChainHead.DESCRIPTOR.fields_by_name)
    replay = audit.replay(logged.verdicts[0].verdict_id).to_dict()
    assert set(replay) == set(audit_pb2.ReplayVerdictResponse.DESCRIPTOR.fields_by_name)


def test_an_undecodable_request_is_invalid_and_not_echoed(logged: Logged) -> None:
    """A verdict id that is not UTF-8: INVALID_ARGUMENT with protobuf's reason (gRPC alone would
    answer INTERNAL), never the bytes sent; the server goes on answering."""
    get = logged.served.channel.unary_unary(
        "/tamis.v1.AuditService/GetVerdict",
        request_serializer=bytes,
        response_deserializer=audit_pb2.GetVerdictResponse.FromString,
    )
    with pytest.raises(grpc.RpcError) as raised:
        get(b"\x0a\x08secret\xff\xfe", timeout=PATIENCE)  # field 1 (verdict_id), 8 bytes
    error = raised.value
    assert isinstance(error, grpc.Call)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "could not be decoded: a string field holds invalid UTF-8" in (error.details() or "")
    assert "secret" not in (error.details() or "")
    assert _query(logged).verdicts
