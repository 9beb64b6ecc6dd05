"""Listings built to cost: thousands of lexicon hits must cost a bounded number of hits and of
evidence items, judge like the same words written a few times, and stay within the time budget."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from tamis.engine import Evaluator, Limits, ListingError, Verdict, load_bundle
from tamis.engine.evidence import MAX_EVIDENCE, _nested
from tamis.engine.lexicons import MAX_HITS_PER_FIELD
from tamis.engine.verdict import Evidence
from tamis.v1 import policy_service_pb2, verdict_pb2
from tests.conftest import PackFiles, base_pack, policy
from tests.test_grpc_evaluate import stream_request
from tests.test_server_harness import PATIENCE, serving

DAY = date(2025, 11, 20)
TEXT_FIELDS = ("title", "description", "category", "brand")


def repeated(unit: str, chars: int = 20_000) -> str:
    return (unit * (chars // len(unit)))[:chars]


def everywhere(text: str, listing_id: str = "h") -> dict[str, Any]:
    """The text in every text field a lexicon reads (the red team's R03 listing)."""
    return {
        "id": listing_id,
        **dict.fromkeys(TEXT_FIELDS, text),
        "ship_to": ["FR"],
        "seller": {"id": "s", "name": text, "country": "FR"},
        "attributes": {"material": text, "ingredients": text},
    }


def judged(evaluator: Evaluator, listing: dict[str, Any]) -> Verdict:
    verdict = evaluator.evaluate_many([listing], DAY)[0]
    assert isinstance(verdict, Verdict), verdict
    return verdict


def outline(verdict: Verdict) -> tuple[str, list[str], list[set[str]]]:
    """A verdict without positions: its decision, policies and the texts shown as evidence."""
    return (
        verdict.decision.value,
        [match.policy for match in verdict.matches],
        [{item.text for item in match.evidence} for match in verdict.matches],
    )


@pytest.mark.parametrize("unit", ["airsoft ", "brass knuckles ", "coup de poing américain "])
def test_a_term_repeated_thousands_of_times_keeps_a_few_hits_and_judges_as_once(
    shipped: Evaluator, unit: str
) -> None:
    findings = shipped.bundle.scanner.scan(everywhere(repeated(unit)))
    per_field: dict[tuple[str, str], int] = {}
    for lexicon, hits in findings.terms.items():
        for hit in hits:
            per_field[lexicon, hit.field] = per_field.get((lexicon, hit.field), 0) + 1
    assert per_field and max(per_field.values()) == MAX_HITS_PER_FIELD

    verdict = judged(shipped, everywhere(repeated(unit)))
    assert outline(verdict)[:2] == outline(judged(shipped, everywhere(unit * 3)))[:2]
    for match in verdict.matches:
        assert 0 < len(match.evidence) <= MAX_EVIDENCE
        for item in match.evidence:
            if item.lexicon:
                assert item.text.strip().lower() in unit.lower()


def test_lookalike_phrases_by_the_thousand_do_not_use_up_the_hits(shipped: Evaluator) -> None:
    """Billes airsoft (ammunition) is a lookalike of the airsoft lexicon: thousands of them
    before the one replica must neither count nor crowd it out."""
    hidden = repeated("billes airsoft ", 19_000) + " réplique airsoft"
    listing = {"id": "h", "title": hidden, "ship_to": ["FR"]}
    short = {**listing, "title": "billes airsoft réplique airsoft"}
    assert outline(judged(shipped, listing)) == outline(judged(shipped, short))
    only_lookalikes = {**listing, "title": repeated("billes airsoft ", 19_000)}
    ammunition = {**listing, "title": "billes airsoft"}
    assert outline(judged(shipped, only_lookalikes)) == outline(judged(shipped, ammunition))


def test_a_listing_with_lexicon_hits_only_is_still_held_to_its_time_budget(
    write_pack: Callable[[PackFiles], Path],
) -> None:
    """The budget is checked while the lexicon matches are sorted through, not only before a
    regular expression (the pack has none): thousands of matches with no time left give the
    listing its error; its neighbours, with a few matches, are judged."""
    bundle = load_bundle(write_pack(base_pack(policy())))
    hurried = Evaluator(bundle, Limits(max_listing_ms=0))
    try:
        few = {"id": "f", "title": "widget", "ship_to": ["FR"]}
        many = {**few, "id": "m", "title": repeated("widget ")}
        first, error, last = hurried.evaluate_many([few, many, few], DAY)
    finally:
        hurried.close()
    assert isinstance(error, ListingError) and "ms of processor time to read" in str(error)
    assert isinstance(first, Verdict) and first == last and first.decision.value == "block"


def test_nested_spans_are_those_strictly_inside_another_of_their_lexicon_and_field() -> None:
    """The sweep agrees with the definition (checked pairwise) on random spans."""
    rng = random.Random(7)
    for _ in range(200):
        items = []
        for _ in range(rng.randint(0, 12)):
            start = rng.randint(0, 20)
            items.append(
                Evidence(rng.choice("ab"), "x", start, start + rng.randint(1, 6), lexicon=rng.choice("LM"))
            )
        expected = {
            (e.field, e.lexicon, e.start, e.end)
            for e in items
            if any(
                (o.field, o.lexicon) == (e.field, e.lexicon)
                and o.start is not None
                and e.start is not None
                and o.end is not None
                and e.end is not None
                and o.start <= e.start
                and e.end <= o.end
                and (o.start, o.end) != (e.start, e.end)
                for o in items
            )
        }
        assert _nested(items) == expected


def outcomes_of(response: policy_service_pb2.EvaluateStreamResponse) -> list[tuple[str, str]]:
    return [
        (
            result.listing_id,
            "error"
            if result.WhichOneof("outcome") == "error"
            else verdict_pb2.Decision.Name(result.verdict.decision).removeprefix("DECISION_").lower(),
        )
        for result in response.results
    ]


def test_a_stream_message_of_listings_with_thousands_of_hits_answers_every_listing() -> None:
    """The red team's R02 batch: 28 listings repeating a term in every field, within every
    limit, between neighbours; with the hits bounded their verdicts stay small."""
    neighbour = {"id": "first", "title": "Coup de poing américain en acier", "ship_to": ["FR"]}
    hostile = [everywhere(repeated("brass knuckles "), f"h{i}") for i in range(28)]
    pen = {"id": "pen", "title": "Stylo bille", "ship_to": ["FR"]}
    request = stream_request(neighbour, *hostile, {**neighbour, "id": "last"}, pen)
    with serving() as served:
        (response,) = served.stub.EvaluateStream(iter([request]), timeout=PATIENCE)
    assert outcomes_of(response) == [
        ("first", "block"),
        *((f"h{i}", "block") for i in range(28)),
        ("last", "block"),
        ("pen", "flag"),  # no seller: the DSA traceability flag
    ]
    assert response.ByteSize() < request.ByteSize() / 10


def test_a_verdict_too_large_to_send_with_its_neighbours_gets_an_error_and_they_their_verdicts() -> None:
    """Evidence quotes the seller's own text, so a span padded with 19,000 invisible characters
    makes a verdict twice the size of its listing: past max_message_bytes the message would fail
    whole. The large verdict is replaced by an error naming it (it is logged); the rest arrive."""
    neighbour = {"id": "first", "title": "Coup de poing américain en acier", "ship_to": ["FR"]}
    padded = "b" + "\u200b" * 19_000 + "rass knuckles"
    big = {"id": "big", "title": padded, "description": padded, "ship_to": ["FR"]}
    request = stream_request(neighbour, big, {**neighbour, "id": "last"})
    limit = 2 * request.ByteSize()
    with serving(max_message_bytes=limit) as served:
        (response,) = served.stub.EvaluateStream(iter([request]), timeout=PATIENCE)
        logged = {item.verdict.listing_id: item for item in served.sink.records}
    assert outcomes_of(response) == [("first", "block"), ("big", "error"), ("last", "block")]
    assert response.ByteSize() <= limit
    error = response.results[1].error
    assert error.too_large and logged["big"].verdict.decision.value == "block"
    assert logged["big"].verdict_id in error.message and len(error.message) < 400
