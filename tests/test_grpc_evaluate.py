"""PolicyService over a real server: Evaluate, EvaluateStream and GetBundle."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from google.protobuf import json_format

from tamis.engine import Bundle, Evaluator
from tamis.engine.evaluator import today
from tamis.service.verdictforms import verdict_to_json
from tamis.v1 import policy_service_pb2, verdict_pb2
from tests.conftest import samples
from tests.test_server_harness import PATIENCE, Served, proto_listing, sample, serving

AS_OF = "2025-11-20"
BRASS_KNUCKLES = "fr.csi.r311-2.a1-14.brass-knuckles"


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    with serving() as running:
        yield running


def evaluate(
    served: Served, listing: dict[str, Any], as_of: str = AS_OF, **kwargs: Any
) -> verdict_pb2.Verdict:
    request = policy_service_pb2.EvaluateRequest(listing=proto_listing(listing), as_of=as_of)
    return served.stub.Evaluate(request, timeout=PATIENCE, **kwargs).verdict


def as_contract(verdict: verdict_pb2.Verdict) -> dict[str, Any]:
    """The verdict's proto3 JSON form, enums written as the contract writes them ("block"), and
    the fields proto3 JSON omits when empty (lists, evidence text) put back."""
    data = json_format.MessageToDict(verdict, preserving_proto_field_name=True)
    data.setdefault("matches", [])
    data["decision"] = data["decision"].removeprefix("DECISION_").lower()
    for match in data["matches"]:
        match["decision"] = match["decision"].removeprefix("DECISION_").lower()
        match["confidence"] = match["confidence"].removeprefix("CONFIDENCE_").lower()
        for item in match.setdefault("evidence", []):
            item.setdefault("text", "")
    return data


def test_evaluate_cites_grounds_and_evidence(served: Served, shipped_bundle: Bundle) -> None:
    """A brass-knuckles listing is blocked, with the article cited and the words that matched."""
    verdict = evaluate(served, sample("s-003"))
    assert verdict.decision == verdict_pb2.DECISION_BLOCK
    assert verdict.policy_version == shipped_bundle.digest
    assert verdict.as_of == AS_OF
    match = next(m for m in verdict.matches if m.policy == BRASS_KNUCKLES)
    assert [(g.instrument, g.article) for g in match.grounds] == [
        ("legitext:LEGITEXT000025503132", "R311-2 I A1 14°")
    ]
    title = sample("s-003")["title"]
    spans = [(e.start, e.end) for e in match.evidence if e.field == "title"]
    assert "Coup de poing américain" in [title[start:end] for start, end in spans]
    assert list(match.countries) == ["FR"]
    assert match.confidence == verdict_pb2.CONFIDENCE_HIGH


@pytest.mark.parametrize("listing", samples(), ids=lambda listing: str(listing["id"]))
def test_evaluate_mirrors_the_engine_field_for_field(
    served: Served, shipped: Evaluator, listing: dict[str, Any]
) -> None:
    """Each sample's gRPC verdict, in JSON, is the engine's verdict plus the verdict id."""
    verdict = evaluate(served, listing)
    expected = verdict_to_json(shipped.evaluate(listing, date.fromisoformat(AS_OF)))
    assert as_contract(verdict) == {**expected, "verdict_id": verdict.verdict_id}


def test_as_of_defaults_to_today_in_paris(served: Served) -> None:
    """Without as_of, the law of today (Europe/Paris) applies."""
    assert evaluate(served, sample("s-002"), as_of="").as_of == today().isoformat()


def test_the_law_of_the_date_applies(served: Served) -> None:
    """Brass knuckles are caught on 2025-11-20, not on 2025-09-06, the day before the décret."""
    before = evaluate(served, sample("s-003"), as_of="2025-09-06")
    after = evaluate(served, sample("s-003"), as_of="2025-11-20")
    assert BRASS_KNUCKLES not in {m.policy for m in before.matches}
    assert BRASS_KNUCKLES in {m.policy for m in after.matches}


def test_each_verdict_is_recorded_before_it_is_returned(served: Served) -> None:
    """The sink holds the verdict, the listing as received and the caller (the peer without mutual
    TLS; tamis-caller only as a claim), under the returned id."""
    verdict = evaluate(served, sample("s-001"), metadata=(("tamis-caller", "acme-market"),))
    recorded = next(item for item in served.sink.records if item.verdict_id == verdict.verdict_id)
    assert verdict.verdict_id.startswith("mem-")
    assert recorded.request == sample("s-001")
    assert recorded.caller.claimed == "acme-market"
    assert recorded.caller.identity.startswith("ipv4:127.0.0.1:")
    assert recorded.verdict.decision.value == "block"


def test_request_id_comes_back_in_trailing_metadata(served: Served) -> None:
    """A client's x-request-id is echoed in the trailing metadata."""
    request = policy_service_pb2.EvaluateRequest(listing=proto_listing(sample("s-002")))
    _, call = served.stub.Evaluate.with_call(
        request, timeout=PATIENCE, metadata=(("x-request-id", "req-42"),)
    )
    assert ("x-request-id", "req-42") in tuple(call.trailing_metadata())


def test_each_request_logs_one_line_without_listing_text(served: Served) -> None:
    """The request log names the listing, decision, policies and bundle, not the title."""
    evaluate(served, sample("s-003"), metadata=(("x-request-id", "log-check"),))
    line = next(e for e in served.log.events("request") if e["request_id"] == "log-check")
    assert line["method"] == "Evaluate"
    assert line["listing_ids"] == ["s-003"]
    assert line["decisions"] == ["block"]
    assert BRASS_KNUCKLES in line["matched"]["s-003"]
    assert line["bundle"].startswith("sha256:")
    assert line["code"] == "OK"
    assert isinstance(line["latency_ms"], float)
    assert "titles" not in line
    assert sample("s-003")["title"] not in served.log.getvalue()


def test_listing_titles_are_logged_when_asked() -> None:
    """With log_listing_text, the request log carries the titles."""
    with serving(log_listing_text=True) as running:
        evaluate(running, sample("s-003"))
        assert running.log.events("request")[-1]["titles"] == [sample("s-003")["title"]]


# --- streams -----------------------------------------------------------------------------------


def stream_request(*listings: dict[str, Any], as_of: str = AS_OF) -> policy_service_pb2.EvaluateStreamRequest:
    return policy_service_pb2.EvaluateStreamRequest(
        listings=[proto_listing(listing) for listing in listings], as_of=as_of
    )


def test_stream_answers_each_message_in_order(served: Served) -> None:
    """One response per message, one result per listing, in order and tagged with its id."""
    all_samples = samples()
    batches = [all_samples[:5], all_samples[5:6], [], all_samples[6:]]
    responses = list(
        served.stub.EvaluateStream(iter([stream_request(*b) for b in batches]), timeout=PATIENCE)
    )
    assert [[r.listing_id for r in response.results] for response in responses] == [
        [listing["id"] for listing in batch] for batch in batches
    ]
    for response, batch in zip(responses, batches, strict=True):
        for result, listing in zip(response.results, batch, strict=True):
            assert result.WhichOneof("outcome") == "verdict"
            assert result.verdict.listing_id == listing["id"]
            assert result.verdict.verdict_id


def test_stream_verdicts_equal_unary_verdicts(served: Served) -> None:
    """A listing gets the same verdict on a stream as alone."""
    listings = samples()
    (response,) = served.stub.EvaluateStream(iter([stream_request(*listings)]), timeout=PATIENCE)
    for result, listing in zip(response.results, listings, strict=True):
        alone = evaluate(served, listing)
        assert {**as_contract(result.verdict), "verdict_id": ""} == {**as_contract(alone), "verdict_id": ""}


def test_a_bad_listing_on_a_stream_gets_an_error_and_the_stream_goes_on(served: Served) -> None:
    """An invalid listing gets an error result with field violations; its neighbours are judged."""
    bad = {"id": "bad-1", "title": "", "ship_to": ["FR", "XX"]}
    messages = [stream_request(sample("s-001"), bad, sample("s-003")), stream_request(sample("s-002"))]
    first, second = served.stub.EvaluateStream(iter(messages), timeout=PATIENCE)
    assert [r.WhichOneof("outcome") for r in first.results] == ["verdict", "error", "verdict"]
    error = first.results[1].error
    assert first.results[1].listing_id == "bad-1"
    assert {v.field for v in error.violations} == {"title", "ship_to[1]"}
    assert not error.too_large
    assert second.results[0].verdict.listing_id == "s-002"


def test_stream_as_of_applies_per_message(served: Served) -> None:
    """Each message's as_of is the date judged for its listings."""
    messages = [stream_request(sample("s-003"), as_of="2025-09-06"), stream_request(sample("s-003"))]
    before, after = served.stub.EvaluateStream(iter(messages), timeout=PATIENCE)
    assert before.results[0].verdict.as_of == "2025-09-06"
    assert BRASS_KNUCKLES not in {m.policy for m in before.results[0].verdict.matches}
    assert BRASS_KNUCKLES in {m.policy for m in after.results[0].verdict.matches}


# --- the bundle --------------------------------------------------------------------------------


def test_get_bundle_describes_the_loaded_policies(served: Served, shipped_bundle: Bundle) -> None:
    """Digest, load time and every policy with its grounds, cited as of the date asked."""
    bundle = served.stub.GetBundle(policy_service_pb2.GetBundleRequest(as_of=AS_OF), timeout=PATIENCE).bundle
    assert bundle.digest == shipped_bundle.digest
    assert bundle.loaded_at.seconds > 0
    assert bundle.engine_rules == len(shipped_bundle.program.rules)
    assert [p.id for p in bundle.policies] == [p.id for p in shipped_bundle.policy_set.policies]
    brass = next(p for p in bundle.policies if p.id == BRASS_KNUCKLES)
    assert brass.decision == verdict_pb2.DECISION_BLOCK
    assert brass.effective_from == "2025-09-07"
    assert brass.grounds[0].version == "in force from 2025-09-07"
    assert brass.file.endswith(".yaml")
    snus = next(p for p in bundle.policies if p.id == "eu.tpd.17.snus")
    assert list(snus.applies_in) == ["EU"]
    assert list(snus.except_in) == ["SE"]
    assert "FR" in snus.countries
    assert "SE" not in snus.countries
