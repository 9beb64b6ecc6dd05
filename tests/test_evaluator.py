"""Verdicts through the real durable-rules engine: where, when, why, and on what evidence."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from tamis.engine import Evaluator, ListingError, PolicySetError, load_bundle
from tamis.service.verdictforms import ground_to_json
from tests.conftest import INSTRUMENT, PackFiles, attributes, base_pack, lexicon, policy

Write = Callable[[PackFiles], Path]
DAY = date(2025, 6, 1)


def evaluator_for(write_pack: Write, *policies: dict[str, Any], **extra: Any) -> Evaluator:
    return Evaluator(load_bundle(write_pack(base_pack(*policies, **extra))))


def item(title: str = "a widget", **fields: Any) -> dict[str, Any]:
    return {"id": fields.pop("id", "l1"), "title": title, "ship_to": fields.pop("ship_to", ["FR"]), **fields}


def matched(evaluator: Evaluator, listing: dict[str, Any], day: date = DAY) -> list[str]:
    return [match.policy for match in evaluator.evaluate(listing, day).matches]


def test_all_matching_policies_are_reported_strongest_first(write_pack: Write) -> None:
    """Every policy that matches is cited, not just the first; the decision is the strongest."""
    evaluator = evaluator_for(
        write_pack,
        policy("t.flag", decision="flag"),
        policy("t.block"),
        policy("t.other", when={"lexicon": "widget", "fields": ["description"]}),
    )
    verdict = evaluator.evaluate(item(), DAY)
    assert verdict.decision.value == "block"
    assert [m.policy for m in verdict.matches] == ["t.block", "t.flag"]
    assert verdict.bundle_digest == evaluator.bundle.digest and verdict.as_of == DAY


def test_jurisdiction_follows_ship_to(write_pack: Write) -> None:
    """EU policies apply in each member state, not elsewhere; exceptions are honoured."""
    evaluator = evaluator_for(write_pack, policy("t.eu", applies_in=["EU"], except_in=["SE"]))
    assert matched(evaluator, item(ship_to=["DE"])) == ["t.eu"]
    assert matched(evaluator, item(ship_to=["US", "CH"])) == []
    assert matched(evaluator, item(ship_to=["SE"])) == []
    verdict = evaluator.evaluate(item(ship_to=["US", "SE", "IT", "FR"]), DAY)
    assert verdict.matches[0].countries == ("IT", "FR")


def test_in_force_dates_are_inclusive(write_pack: Write) -> None:
    """A policy applies from its first day to its last day, both included."""
    evaluator = evaluator_for(write_pack, policy(in_force={"from": "2025-09-07", "to": "2026-02-28"}))
    assert matched(evaluator, item(), date(2025, 9, 6)) == []
    assert matched(evaluator, item(), date(2025, 9, 7)) == ["t.policy"]
    assert matched(evaluator, item(), date(2026, 2, 28)) == ["t.policy"]
    assert matched(evaluator, item(), date(2026, 3, 1)) == []


def test_a_policy_written_before_in_force_was_named_still_loads(write_pack: Write) -> None:
    """Bundles kept in a verdict log say `effective:`; they must still load to be replayed."""
    evaluator = evaluator_for(write_pack, policy(effective={"from": "2025-09-07"}))
    assert matched(evaluator, item(), date(2025, 9, 6)) == []
    assert matched(evaluator, item(), date(2025, 9, 7)) == ["t.policy"]


def test_grounds_cite_the_article_version_in_force(write_pack: Write) -> None:
    """The version applied depends on the date judged, with its own URL when it has one."""
    grounds = [{"instrument": INSTRUMENT["instrument"], "article": "2"}]
    evaluator = evaluator_for(write_pack, policy(grounds=grounds))
    old = evaluator.evaluate(item(), date(2024, 6, 1)).matches[0].grounds[0]
    new = evaluator.evaluate(item(), date(2025, 6, 1)).matches[0].grounds[0]
    assert (old.version, old.url) == ("V-OLD", "https://example.org/code")
    assert (new.version, new.url) == ("V-NEW", "https://example.org/v-new")
    assert ground_to_json(new) == {
        "instrument": "legitext:LEGITEXT000000000001",
        "title": "Code de test",
        "article": "2",
        "jurisdiction": "FR",
        "url": "https://example.org/v-new",
        "version": "V-NEW",
    }


def test_evidence_points_into_the_original_text(write_pack: Write) -> None:
    """Offsets select the seller's own words, however they were disguised."""
    evaluator = evaluator_for(write_pack, policy())
    title = "Super W.I.D.G.E.T, cheap"
    [evidence] = evaluator.evaluate(item(title), DAY).matches[0].evidence
    assert (evidence.field, evidence.text, evidence.lexicon) == ("title", "W.I.D.G.E.T", "widget")
    assert title[evidence.start : evidence.end] == "W.I.D.G.E.T"


def test_numbers_read_from_text_are_evidence(write_pack: Write) -> None:
    """An attribute the listing lacks is read from its text, and the evidence says where."""
    declared = attributes(height_cm={"from_text": [{"patterns": [r"(\d+)\s*cm\b"]}]})
    when = {"all": [{"lexicon": "widget"}, {"field": "attributes.height_cm", "lt": 130}]}
    evaluator = evaluator_for(write_pack, policy(when=when), **{"attributes.yaml": declared})
    verdict = evaluator.evaluate(item("Widget doll 100 cm tall"), DAY)
    size = next(e for e in verdict.matches[0].evidence if e.condition)
    assert (size.text, size.condition) == ("100 cm", "attributes.height_cm < 130 (read from text: 100)")
    assert matched(evaluator, item("Widget doll 165 cm tall")) == []
    assert matched(evaluator, item("Widget doll 165 cm", attributes={"height_cm": 100})) == ["t.policy"]


def test_a_test_can_ask_where_the_number_comes_from(write_pack: Write) -> None:
    """`source: stated` reads only the listing's attribute, `source: text` only its text."""
    declared = attributes(height_cm={"from_text": [{"patterns": [r"(\d+)\s*cm\b"]}]})
    stated = policy("t.stated", when={"field": "attributes.height_cm", "lt": 130, "source": "stated"})
    text = policy(
        "t.text", decision="flag", when={"field": "attributes.height_cm", "lt": 130, "source": "text"}
    )
    evaluator = evaluator_for(write_pack, stated, text, **{"attributes.yaml": declared})
    assert matched(evaluator, item("doll 100 cm")) == ["t.text"]
    assert matched(evaluator, item("doll", attributes={"height_cm": 100})) == ["t.stated"]
    assert matched(evaluator, item("doll 100 cm", attributes={"height_cm": 160})) == ["t.text"]
    evidence = evaluator.evaluate(item("doll 100 cm"), DAY).matches[0].evidence[0]
    assert evidence.condition == "attributes.height_cm < 130 (in the text) (read from text: 100)"


def test_unless_exempts(write_pack: Write) -> None:
    """A listing matching an exception is not matched."""
    evaluator = evaluator_for(
        write_pack,
        policy(unless=[{"lexicon": "gadget"}]),
        **{"lexicons/gadget.yaml": lexicon("gadget", en=["toy"])},
    )
    assert matched(evaluator, item("widget")) == ["t.policy"]
    assert matched(evaluator, item("widget toy")) == []


def test_negation_of_an_absent_field_holds(write_pack: Write) -> None:
    """`not` of a comparison is true when the field is absent, as in the model's semantics."""
    when = {"all": [{"lexicon": "widget"}, {"not": {"field": "attributes.height_cm", "lt": 130}}]}
    evaluator = evaluator_for(write_pack, policy(when=when))
    assert matched(evaluator, item()) == ["t.policy"]
    assert matched(evaluator, item(attributes={"height_cm": 200})) == ["t.policy"]
    assert matched(evaluator, item(attributes={"height_cm": 100})) == []


def test_text_comparisons_ignore_case_and_accents(write_pack: Write) -> None:
    """`in` compares folded text; `present: false` matches a missing object."""
    when = {
        "any": [
            {"field": "attributes.material", "in": ["Silicone", "TPE"]},
            {"field": "seller.trader", "present": False},
        ]
    }
    evaluator = evaluator_for(write_pack, policy(when=when))
    assert matched(
        evaluator, item(attributes={"material": " SILICONÉ "}, seller={"trader": {"name": "x"}})
    ) == ["t.policy"]
    assert matched(evaluator, item(attributes={"material": "wood"})) == ["t.policy"]
    assert matched(evaluator, item(attributes={"material": "wood"}, seller={"trader": {"name": "x"}})) == []


def test_country_fields_take_groups(write_pack: Write) -> None:
    """`seller.country in [EU]` means any member state; unknown codes are refused at load."""
    when = {"all": [{"lexicon": "widget"}, {"not": {"field": "seller.country", "in": ["EU"]}}]}
    evaluator = evaluator_for(write_pack, policy(when=when))
    assert matched(evaluator, item(seller={"country": "CN"})) == ["t.policy"]
    assert matched(evaluator, item(seller={"country": "DE"})) == []
    with pytest.raises(PolicySetError, match="unknown country code"):
        load_bundle(write_pack(base_pack(policy(when={"field": "seller.country", "in": ["XX"]}))))


def test_world_is_every_country_and_france_keeps_its_overseas_departments(write_pack: Write) -> None:
    """`applies_in: [WORLD]` less `except_in: [FR]`: a law binding a seller in France wherever
    the buyer is, with France (overseas departments included) left to another policy."""
    evaluator = evaluator_for(write_pack, policy(applies_in=["WORLD"], except_in=["FR"]))
    found = evaluator.evaluate(item(ship_to=["US", "FR", "RE", "CH"]), DAY)
    assert [match.countries for match in found.matches] == [("US", "CH")]
    assert evaluator.evaluate(item(ship_to=["FR", "GP"]), DAY).matches == ()


def test_bad_listing_in_a_batch_keeps_its_place(write_pack: Write) -> None:
    """A listing that breaks the contract gets its error; the others are judged, in order."""
    evaluator = evaluator_for(write_pack, policy())
    results = evaluator.evaluate_many([item(id="a"), {"id": "b"}, item(id="c", title="nothing")], DAY)
    assert results[0].listing_id == "a" and results[0].decision.value == "block"  # type: ignore[union-attr]
    assert isinstance(results[1], ListingError) and "ship_to: is required" in str(results[1])
    assert results[2].listing_id == "c" and results[2].decision.value == "allow"  # type: ignore[union-attr]
    with pytest.raises(ListingError):
        evaluator.evaluate({"id": 1}, DAY)


def test_no_verdict_carries_another_listings_match(write_pack: Write) -> None:
    """Thousands of mixed listings in batches get exactly the matches they get one by one."""
    evaluator = evaluator_for(
        write_pack,
        policy("t.a"),
        policy("t.b", decision="flag", when={"field": "price.amount", "gt": 50}),
        policy("t.c", applies_in=["DE"], when={"lexicon": "widget", "fields": ["description"]}),
    )
    rng = random.Random(3)
    listings = [
        item(
            rng.choice(["a widget", "a lamp"]),
            id=f"l{n}",
            description=rng.choice(["widget", "lamp", ""]) or None,
            price={"amount": rng.choice([10, 60]), "currency": "EUR"},
            ship_to=rng.choice([["FR"], ["DE"]]),
        )
        for n in range(3000)
    ]
    for listing_ in listings:
        if listing_["description"] is None:
            del listing_["description"]
    alone = {listing_["id"]: matched(evaluator, listing_) for listing_ in listings[:300]}
    together = {}
    for start in range(0, len(listings), 500):
        for verdict in evaluator.evaluate_many(listings[start : start + 500], DAY):
            together[verdict.listing_id] = [m.policy for m in verdict.matches]  # type: ignore[union-attr]
    assert {key: together[key] for key in alone} == alone
    assert len({tuple(v) for v in together.values()}) > 3  # the mix really varies


def test_per_listing_dates_in_one_batch(write_pack: Write) -> None:
    """One batch can judge each listing as of its own date."""
    evaluator = evaluator_for(write_pack, policy(in_force={"from": "2025-09-07"}))
    before, after = evaluator.evaluate_many(
        [item(id="x"), item(id="y")], [date(2025, 9, 1), date(2025, 9, 8)]
    )
    assert before.decision.value == "allow" and after.decision.value == "block"  # type: ignore[union-attr]


def test_threads_evaluating_at_once_get_their_own_verdicts(write_pack: Write) -> None:
    """Many threads sharing one evaluator each get exactly the verdicts of their listings."""
    evaluator = evaluator_for(
        write_pack, policy(), policy("t.b", decision="flag", when={"field": "price.amount", "gt": 5})
    )
    batches = [
        [
            item(
                f"{'widget' if (n + k) % 2 else 'lamp'}",
                id=f"{k}-{n}",
                price={"amount": n % 10, "currency": "EUR"},
            )
            for n in range(200)
        ]
        for k in range(6)
    ]
    expected = [
        [[m.policy for m in v.matches] for v in evaluator.evaluate_many(batch, DAY)] for batch in batches
    ]
    results: dict[int, list[list[str]]] = {}

    def judge(number: int) -> None:
        verdicts = evaluator.evaluate_many(batches[number], DAY)
        results[number] = [[m.policy for m in v.matches] for v in verdicts]  # type: ignore[union-attr]

    threads = [threading.Thread(target=judge, args=(number,)) for number in range(len(batches))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [results[number] for number in range(len(batches))] == expected


def test_evidence_leaves_out_spans_inside_longer_ones(write_pack: Write) -> None:
    """When a term lies inside a longer term of the same lexicon, only the longer span is shown."""
    extra = {"lexicons/widget.yaml": lexicon("widget", en=["widget", "blue widget"])}
    evaluator = evaluator_for(write_pack, policy(), **extra)
    evidence = evaluator.evaluate(item("a blue widget and a widget"), DAY).matches[0].evidence
    assert [(e.text, e.start) for e in evidence] == [("blue widget", 2), ("widget", 20)]
