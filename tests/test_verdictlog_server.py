"""The verdict log inside the server: every verdict durable before it is returned, with its id;
streams in group commits; bundles stored on load and reload; outages answered UNAVAILABLE."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import grpc
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from tamis.service.cli import main
from tamis.service.server.convert import fill_logged_verdict
from tamis.service.verdictlog import AuditLog, open_database
from tamis.service.verdictlog.sink import LogSink
from tamis.v1 import policy_service_pb2, verdict_pb2
from tests.conftest import POLICIES, samples
from tests.test_server_harness import PATIENCE, Served, proto_listing, serving, wait_until
from tests.test_server_reload import set_new_word, zorglub
from tests.test_verdictlog_support import TcpProxy, pg_schema

pytest_plugins = ["tests.test_verdictlog_support"]

AS_OF = "2025-11-20"


@contextmanager
def logged_server(location: str, policies: Path = POLICIES, **options: Any) -> Iterator[Served]:
    """A real server whose sink is the verdict log at `location`."""
    with serving(policies, sink=LogSink(open_database(location)), log=location, **options) as served:
        yield served


def evaluate(served: Served, listing: dict[str, Any], **kwargs: Any) -> verdict_pb2.Verdict:
    request = policy_service_pb2.EvaluateRequest(listing=proto_listing(listing), as_of=AS_OF)
    verdict: verdict_pb2.Verdict = served.stub.Evaluate(request, timeout=PATIENCE, **kwargs).verdict
    return verdict


def stream(
    served: Served, batches: list[list[dict[str, Any]]]
) -> list[policy_service_pb2.EvaluateStreamResponse]:
    requests = (
        policy_service_pb2.EvaluateStreamRequest(
            listings=[proto_listing(item) for item in batch], as_of=AS_OF
        )
        for batch in batches
    )
    return list(served.stub.EvaluateStream(requests, timeout=PATIENCE))


def test_every_verdict_is_logged_with_the_id_returned(log_location: str, audit: AuditLog) -> None:
    """Each Evaluate answer carries a verdict id whose record is that very verdict, with the
    peer as caller and the caller named in the metadata as its claim; the chain verifies."""
    with logged_server(log_location) as served:
        returned = [
            evaluate(served, listing, metadata=(("tamis-caller", "shop-42"),)) for listing in samples()
        ]
    for verdict in returned:
        logged = audit.get(verdict.verdict_id)
        assert logged is not None
        as_logged = verdict_pb2.Verdict()
        fill_logged_verdict(as_logged, logged.verdict(), logged.receipt)
        assert as_logged == verdict
        assert logged.record.caller.startswith("ipv4:127.0.0.1:")
        assert logged.record.claimed_caller == "shop-42"
    report = audit.verify()
    assert report.ok, report.problems
    assert report.verdicts == len(samples())


def test_a_stream_message_is_one_group_commit(log_location: str, audit: AuditLog) -> None:
    """Each stream message's verdicts go to the log in one commit; listing errors get no record."""
    listings = samples()
    broken = {"id": "bad", "title": "", "ship_to": ["XX"]}
    batches = [listings[:5], [*listings[5:9], broken], listings[9:]]
    sink = LogSink(open_database(log_location))
    with serving(POLICIES, sink=sink, log=log_location) as served:
        before = sink.log.commits
        responses = stream(served, batches)
        commits = sink.log.commits - before
    assert commits == len(batches)
    results = [result for response in responses for result in response.results]
    ids = [result.verdict.verdict_id for result in results if result.HasField("verdict")]
    assert [result.listing_id for result in results if result.HasField("error")] == ["bad"]
    assert len(set(ids)) == len(listings)
    assert all(audit.get(verdict_id) is not None for verdict_id in ids)


def test_bundles_are_stored_on_load_and_reload(tmp_path: Path, log_location: str, audit: AuditLog) -> None:
    """Both the first bundle and the one a reload brings are stored; verdicts of each replay."""
    pack = tmp_path / "pack"
    shutil.copytree(POLICIES, pack)
    with logged_server(log_location, pack, reload_interval=0.05) as served:
        before = evaluate(served, zorglub(1))
        set_new_word(pack, present=True)
        wait_until(lambda: evaluate(served, zorglub(2)).decision == verdict_pb2.DECISION_BLOCK, "the reload")
        after = evaluate(served, zorglub(3))
    assert before.policy_version != after.policy_version
    for verdict in (before, after):
        assert audit.bundle_sources(verdict.policy_version) is not None
        replay = audit.replay(verdict.verdict_id)
        assert replay.identical, replay.differences
    assert audit.verify().ok


def test_the_audit_cli_reads_what_the_server_logged(
    log_location: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`tamis audit query --listing` finds the verdict the server returned."""
    with logged_server(log_location) as served:
        verdict = evaluate(served, samples()[2])
    assert main(["audit", "query", "--db", log_location, "--listing", "s-003"]) == 0
    assert verdict.verdict_id in capsys.readouterr().out


def test_an_unreachable_database_makes_evaluate_unavailable_until_it_returns() -> None:
    """With PostgreSQL out of reach, Evaluate answers UNAVAILABLE and returns no verdict; when
    it is back the server logs and answers again by itself, and the chain verifies."""
    with pg_schema() as dsn:
        target = conninfo_to_dict(dsn)
        proxy = TcpProxy((str(target.get("host", "127.0.0.1")), int(target.get("port", 5432))))
        via_proxy = make_conninfo(dsn, host="127.0.0.1", port=str(proxy.port))
        try:
            with logged_server(via_proxy) as served:
                first = evaluate(served, samples()[0])
                with proxy.stopped():
                    for listing in samples()[:3]:
                        with pytest.raises(grpc.RpcError) as refused:
                            evaluate(served, listing)
                        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
                returned = _eventually_evaluated(served, samples()[1])
        finally:
            proxy.stop()
        audit = AuditLog(open_database(dsn))
        try:
            report = audit.verify()
            assert report.ok, report.problems
            assert report.verdicts == 2
            assert all(audit.get(v.verdict_id) is not None for v in (first, returned))
        finally:
            audit.close()


def test_a_server_started_while_the_database_is_down_serves_once_it_is_up() -> None:
    """The server starts without its database, refuses verdicts (UNAVAILABLE), then logs them
    once the database can be reached, with the bundle's sources stored first."""
    with pg_schema() as dsn:
        target = conninfo_to_dict(dsn)
        proxy = TcpProxy((str(target.get("host", "127.0.0.1")), int(target.get("port", 5432))))
        via_proxy = make_conninfo(dsn, host="127.0.0.1", port=str(proxy.port))
        proxy.stop()
        try:
            with logged_server(via_proxy) as served:
                with pytest.raises(grpc.RpcError) as refused:
                    evaluate(served, samples()[0])
                assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
                proxy.start()
                returned = _eventually_evaluated(served, samples()[0])
        finally:
            proxy.stop()
        audit = AuditLog(open_database(dsn))
        try:
            replay = audit.replay(returned.verdict_id)
            assert replay.identical, replay.differences
        finally:
            audit.close()


def _eventually_evaluated(served: Served, listing: dict[str, Any]) -> verdict_pb2.Verdict:
    """Evaluate, retried while the server answers UNAVAILABLE (its log reconnecting)."""
    outcome: list[verdict_pb2.Verdict] = []

    def answered() -> bool:
        try:
            outcome.append(evaluate(served, listing))
        except grpc.RpcError as error:
            assert error.code() == grpc.StatusCode.UNAVAILABLE, error
            return False
        return True

    wait_until(answered, "the verdict log to come back")
    return outcome[0]


def test_the_logged_request_is_the_validated_listing(log_location: str, audit: AuditLog) -> None:
    """An attribute given under a marketplace alias is logged under its canonical name, and the
    replay of that record judges exactly what the server judged."""
    listing = {**samples()[0], "attributes": {"taille_cm": 100, "material": "TPE"}}
    with logged_server(log_location) as served:
        verdict = evaluate(served, listing)
    logged = audit.get(verdict.verdict_id)
    assert logged is not None
    assert '"attributes":{"height_cm":100,"material":"TPE"}' in logged.record.request
    assert audit.replay(verdict.verdict_id).identical
