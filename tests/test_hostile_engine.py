"""Hostile listings against the real engine: no number, signal count or neighbour can crash a
process, change another listing's verdict, or leave the engine dirty for the next call."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from tamis.engine import Evaluator, Limits, ListingError, PolicySetError, Verdict, load_bundle
from tamis.engine import evaluator as evaluator_module
from tamis.engine.durable import DurableRuleset, EngineError, engine_number
from tests.conftest import PackFiles, base_pack, policy

DAY = date(2025, 11, 20)
BLOCK = {"id": "b", "title": "Coup de poing américain en acier", "ship_to": ["FR"]}


def laser(title: str = "Pointeur laser vert", **attributes: Any) -> dict[str, Any]:
    return {"id": "h", "title": title, "ship_to": ["FR"], "attributes": attributes}


def outcomes(evaluator: Evaluator, listings: list[dict[str, Any]]) -> list[str]:
    return [
        "error" if isinstance(result, ListingError) else result.decision.value
        for result in evaluator.evaluate_many(listings, DAY)
    ]


def alone(evaluator: Evaluator, listing: dict[str, Any]) -> str:
    return outcomes(evaluator, [listing])[0]


@pytest.mark.parametrize(
    "hostile",
    [
        laser("Pointeur laser vert 0,0000001 mW"),  # read from text as 1e-07
        laser("Pointeur laser vert 99999999999999999999 mW"),  # 1e+20
        laser(laser_power_mw=1e-7),
        laser(laser_power_mw=-1e-300),
        laser(laser_power_mw=-0.0),
        laser(laser_power_mw=1e15),
    ],
    ids=["tiny-in-text", "huge-in-text", "tiny", "tiny-negative", "minus-zero", "largest"],
)
def test_a_number_written_with_an_exponent_is_judged_and_launders_nothing(
    shipped: Evaluator, hostile: dict[str, Any]
) -> None:
    """orjson writes 1e-07; the C core read that as a broken batch and let the rest pass."""
    verdicts = outcomes(shipped, [BLOCK, hostile, BLOCK, BLOCK])
    assert verdicts == ["block", alone(shipped, hostile), "block", "block"]
    assert verdicts[1] != "error"


@pytest.mark.parametrize("value", [1e16, -1e16, 10**400, 10**16])
def test_a_stated_number_beyond_any_measure_is_a_contract_error(shipped: Evaluator, value: Any) -> None:
    verdicts = shipped.evaluate_many([BLOCK, laser(laser_power_mw=value), BLOCK], DAY)
    first, error, last = verdicts
    assert isinstance(error, ListingError)
    assert [v.field for v in error.violations] == ["attributes.laser_power_mw"]
    assert isinstance(first, Verdict) and isinstance(last, Verdict)
    assert first.decision.value == last.decision.value == "block"


def test_numbers_reach_the_engine_in_a_form_it_reads() -> None:
    """Every magnitude compares as it should against a rule's threshold, in one batch."""
    ruleset = DurableRuleset("t", {"big": {"all": [{"m": {"$gt": {"x": 5}}}]}})
    values = [1e-7, -1e-7, 5e-324, 1e16, -1e16, 1.5e300, float("inf"), -float("inf"), 10**400, 2**60, 6, 4]
    facts = [{"id": 1000 + n, "x": engine_number(value)} for n, value in enumerate(values)]
    fired = ruleset.fire(facts)
    assert sorted(fired) == [1000 + n for n, value in enumerate(values) if value > 5]


def test_a_batch_the_engine_would_misread_fails_only_the_fact_at_fault() -> None:
    """Whatever slips past engine_number is refused before the C parser, one fact at a time."""
    ruleset = DurableRuleset("t", {"big": {"all": [{"m": {"$gt": {"x": 5}}}]}})
    values: list[Any] = [10, 1e-7, float("nan"), 10**30, 9]
    facts = [{"id": n, "x": value} for n, value in enumerate(values, start=1)]
    with pytest.raises(EngineError):
        ruleset.fire(facts)
    fired, failed = ruleset.fire_each(facts)
    assert fired == {1: {"big"}, 5: {"big"}}
    assert sorted(failed) == [2, 3, 4]
    assert ruleset.fire([{"id": 6, "x": 7}]) == {6: {"big"}}  # clean for the next call


def crowded(evaluator: Evaluator) -> dict[str, Any]:
    """One listing with a term of every lexicon in every text field: past the C core's
    stack of 64 matching conditions (error 303)."""
    terms = [
        terms[0].rstrip("*")
        for lexicon in evaluator.bundle.policy_set.lexicons.values()
        for terms in lexicon.terms.values()
    ]
    text = " . ".join(terms)[:20_000]
    return {
        "id": "crowded",
        "title": text,
        "description": text,
        "category": text,
        "brand": text,
        "ship_to": ["FR", "DE", "IT", "ES", "NL", "BE"],
        "attributes": {"material": text, "ingredients": text, "contains": terms[:200]},
    }


def test_an_engine_error_fails_its_listing_and_leaves_the_engine_clean(shipped: Evaluator) -> None:
    """Error 303 came before the clean-up and poisoned the next, unrelated call."""
    results = shipped.evaluate_many([BLOCK, crowded(shipped), BLOCK], DAY)
    assert isinstance(results[1], ListingError) and "rule engine" in str(results[1])
    assert [r.decision.value for r in (results[0], results[2]) if isinstance(r, Verdict)] == [
        "block",
        "block",
    ]
    assert alone(shipped, BLOCK) == "block"
    mug = {**BLOCK, "title": "Tasse en céramique blanche"}
    assert shipped.evaluate(mug, DAY).matches == Evaluator(shipped.bundle).evaluate(mug, DAY).matches


def test_a_listing_over_its_time_budget_gets_an_error_and_its_neighbours_do_not(
    write_pack: Callable[[PackFiles], Path],
) -> None:
    """With no time at all, a listing whose rules need a pattern run is refused; the others
    (no pattern needed) are judged as ever."""
    needs_pattern = policy("t.regex", when={"all": [{"lexicon": "widget"}, {"regex": r"\d+\s*mw"}]})
    bundle = load_bundle(write_pack(base_pack(needs_pattern, policy("t.plain", decision="flag"))))
    hurried = Evaluator(bundle, Limits(max_listing_ms=0))
    slow, quick = (
        {"id": "s", "title": "widget 5 mw", "ship_to": ["FR"]},
        {"id": "q", "title": "a mug", "ship_to": ["FR"]},
    )
    first, error, last = hurried.evaluate_many([quick, slow, quick], DAY)
    assert isinstance(error, ListingError) and "ms of processor time to read" in str(error)
    assert isinstance(first, Verdict) and first == last and first.decision.value == "allow"
    assert alone(Evaluator(bundle), slow) == "block"


def test_the_ground_cache_keeps_a_bounded_number_of_days(
    shipped: Evaluator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A caller choosing a new as_of each time must not grow the process without end."""
    monkeypatch.setattr(evaluator_module, "GROUND_CACHE_SIZE", 8)
    evaluator = Evaluator(shipped.bundle)
    for offset in range(40):
        evaluator.evaluate(BLOCK, date.fromordinal(DAY.toordinal() - offset))
    assert len(evaluator._grounds) == 8
    assert evaluator.evaluate(BLOCK, DAY).matches == shipped.evaluate(BLOCK, DAY).matches


@pytest.mark.parametrize("threshold", [1e-7, 1e-300, 999_999_999_999_999.5])
def test_a_policy_threshold_in_exponent_form_reaches_the_engine(
    write_pack: Callable[[PackFiles], Path], threshold: float
) -> None:
    """orjson writes a rule's 1e-07 as it writes a fact's: the C core refused the ruleset (204)."""
    when = {"all": [{"lexicon": "widget"}, {"field": "attributes.height_cm", "gt": threshold}]}
    evaluator = Evaluator(load_bundle(write_pack(base_pack(policy(when=when)))))
    above = {"id": "a", "title": "widget", "ship_to": ["FR"], "attributes": {"height_cm": 10**15}}
    below = {**above, "id": "b", "attributes": {"height_cm": -1}}
    assert outcomes(evaluator, [above, below]) == ["block", "allow"]


@pytest.mark.parametrize("threshold", [".nan", ".inf", "1e16"])
def test_a_policy_threshold_beyond_the_contract_is_refused_with_its_line(
    write_pack: Callable[[PackFiles], Path], threshold: str
) -> None:
    rule = f"""\
        id: t.policy
        title: A policy
        decision: block
        applies_in: [FR]
        grounds: [{{instrument: "legitext:LEGITEXT000000000001", article: "1"}}]
        when: {{field: attributes.height_cm, gt: {threshold}}}
        """
    with pytest.raises(PolicySetError) as caught:
        load_bundle(write_pack({**base_pack(), "rules/p0.yaml": rule}))
    (problem,) = caught.value.problems
    assert (problem.location.file, problem.location.line) == ("rules/p0.yaml", 6)
    assert "±10^15" in problem.message


@pytest.mark.parametrize("field", ["title", "id", "attributes"])
def test_a_lone_surrogate_is_a_contract_error_not_a_failed_batch(shipped: Evaluator, field: str) -> None:
    """Found by bench.fuzz: '\\ud800' in a title raised out of the text matcher for the batch."""
    hostile: dict[str, Any] = {**BLOCK, "id": "s"}
    if field == "attributes":
        hostile["attributes"] = {"contains": ["ivoire\ud800"]}
    else:
        hostile[field] = hostile[field] + "\ud800"
    first, error, last = shipped.evaluate_many([BLOCK, hostile, BLOCK], DAY)
    assert isinstance(error, ListingError) and "lone surrogate" in str(error)
    assert isinstance(first, Verdict) and isinstance(last, Verdict) and first.decision == last.decision
