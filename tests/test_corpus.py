"""The labelled corpus is well formed, and the bundled pack is scored against it.

The format tests always pass on a sound corpus. `test_pack_meets_the_bar` states what the shipped pack
must achieve. The pack was written blind to the corpus and then tuned on it (policies/README.md), so
these numbers guard against regressions; they are no longer a blind estimate of accuracy.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tamis.engine import Bundle, Evaluator, ListingError
from tamis.engine.listing import validate_listing
from tests.conftest import REFERENCES
from tests.corpus.cases import CORRECTIONS_RULES, FAMILIES, Case, load_cases, reference_rule_ids, rule_ids
from tests.corpus.scoring import Outcome, cites, evaluate, measures, misses, render, report

# What the corpus must be.
MIN_LISTINGS = 400
LAWFUL_SHARE = (0.35, 0.45)  # about 40 % of listings are lawful (expected allow)

# The bar a complete pack must meet (decision level unless said otherwise).
MAX_FALSE_BLOCK_RATE = 0.01  # lawful listings blocked: at most 1 %
MIN_LAWFUL_ALLOWED = 0.90  # lawful listings allowed: a false flag costs a reviewer's time
MAX_PROHIBITED_ALLOWED = 0.05  # listings the law blocks that the pack allows: at most 5 %
MIN_BLOCK_RECALL = 0.90  # overall, of listings the law blocks
MIN_BLOCK_PRECISION = 0.95  # overall: a block must be right
MIN_FLAG_RECALL = 0.80  # overall, of listings the law flags
MIN_GROUND_ACCURACY = 0.85  # flagged/blocked listings whose every labelled rule is cited
MIN_FAMILY_BLOCK_RECALL = 0.75  # no family may be left behind


@pytest.fixture(scope="module")
def cases() -> list[Case]:
    return load_cases()


@pytest.fixture(scope="module")
def outcomes(shipped: Evaluator, cases: list[Case]) -> list[Outcome]:
    return evaluate(shipped, cases)


@pytest.fixture(scope="module")
def numbers(outcomes: list[Outcome]) -> Iterator[dict[str, Any]]:
    """The score report; written as JSON to $TAMIS_CORPUS_REPORT when that is set."""
    result = report(outcomes)
    target = os.environ.get("TAMIS_CORPUS_REPORT")
    if target:
        Path(target).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    yield result


def test_corpus_is_large_enough(cases: list[Case]) -> None:
    """The corpus holds at least 400 listings."""
    assert len(cases) >= MIN_LISTINGS


def test_every_listing_meets_the_contract(cases: list[Case]) -> None:
    """Every corpus listing passes the listing contract unchanged."""
    broken = []
    for case in cases:
        try:
            validate_listing(case.listing)
        except ListingError as error:
            broken.append(f"{case.source}: {error}")
    assert not broken, "\n".join(broken)


def test_listing_ids_are_unique(cases: list[Case]) -> None:
    """No two corpus lines share a listing id."""
    counts = Counter(case.listing_id for case in cases)
    assert [listing_id for listing_id, count in counts.items() if count > 1] == []


def test_about_forty_percent_are_lawful(cases: list[Case]) -> None:
    """Lawful listings (expected allow) are about 40 % of the corpus."""
    share = sum(case.decision == "allow" for case in cases) / len(cases)
    low, high = LAWFUL_SHARE
    assert low <= share <= high, f"{share:.1%} lawful"


def test_every_family_has_lawful_and_unlawful_listings(cases: list[Case]) -> None:
    """Each family has allowed listings and flagged or blocked ones."""
    for family in FAMILIES:
        decisions = {case.decision for case in cases if case.family == family}
        assert "allow" in decisions, family
        assert decisions & {"flag", "block"}, family


def test_rules_match_the_decision(cases: list[Case]) -> None:
    """An allowed listing cites no rule; a flagged or blocked one cites at least one, each once."""
    wrong = [
        case.source
        for case in cases
        if (case.decision == "allow") != (not case.rules) or len(set(case.rules)) != len(case.rules)
    ]
    assert wrong == []


def test_labels_cite_known_rules(cases: list[Case]) -> None:
    """Every rule a label cites is a rule id of REFERENCES.md (as copied in rules.txt)."""
    known = set(rule_ids())
    unknown = sorted({f"{case.source}: {rule}" for case in cases for rule in case.rules if rule not in known})
    assert unknown == []


def test_rules_copy_matches_references() -> None:
    """tests/corpus/rules.txt lists exactly the rule ids of REFERENCES.md's rule table, and the rules
    CORRECTIONS.md adds."""
    ours, theirs = set(rule_ids()), set(reference_rule_ids(REFERENCES)) | set(CORRECTIONS_RULES)
    assert ours == theirs, (
        f"only in rules.txt: {sorted(ours - theirs)}; only in REFERENCES.md: {sorted(theirs - ours)}"
    )


def test_grounding_accepts_refinements_of_a_rule_id() -> None:
    """A policy id cites a rule when it equals the rule id or extends it after a dot, not otherwise."""
    assert cites(["eu.tpd.20-3.volumes"], "eu.tpd.20-3.volumes")
    assert cites(["eu.tpd.20-3.volumes.tank"], "eu.tpd.20-3.volumes")
    assert not cites(["eu.tpd.20-3.volumes-tank"], "eu.tpd.20-3.volumes")
    assert not cites(["eu.dsa.30.trader-traceability"], "eu.dsa.30-31.trader-traceability")


def test_measures_count_decisions_per_label(cases: list[Case]) -> None:
    """Precision, recall and the lawful/prohibited shares follow from expected and got decisions."""
    allow = next(case for case in cases if case.decision == "allow")
    block = next(case for case in cases if case.decision == "block")
    got = [
        Outcome(allow, "block", ()),
        Outcome(allow, "allow", ()),
        Outcome(block, "block", block.rules),
        Outcome(block, "allow", ()),
    ]
    result = measures(got)
    assert result["block_precision"] == 0.5
    assert result["block_recall"] == 0.5
    assert result["false_block_rate"] == 0.5
    assert result["prohibited_allowed"] == 0.5
    assert result["ground_accuracy"] == 0.5
    assert result["flag_recall"] is None


def test_every_listing_gets_a_verdict(
    shipped_bundle: Bundle, outcomes: list[Outcome], numbers: dict[str, Any]
) -> None:
    """The bundled pack judges every corpus listing, and the report covers them all."""
    assert numbers["refused"] == []
    assert numbers["overall"]["listings"] == len(outcomes)
    assert sum(group["listings"] for group in numbers["families"].values()) == len(outcomes)
    print(f"\ncorpus scores of {shipped_bundle.digest}\n{render(numbers)}")


def test_pack_meets_the_bar(outcomes: list[Outcome], numbers: dict[str, Any]) -> None:
    """The bundled pack meets every stated bar on the corpus."""
    overall = numbers["overall"]
    failures = [
        f"{name} {value} breaks the bar {bar}"
        for name, value, bar, ok in (
            ("false block rate", overall["false_block_rate"], MAX_FALSE_BLOCK_RATE, _at_most),
            ("lawful allowed", overall["lawful_allowed"], MIN_LAWFUL_ALLOWED, _at_least),
            ("prohibited allowed", overall["prohibited_allowed"], MAX_PROHIBITED_ALLOWED, _at_most),
            ("block recall", overall["block_recall"], MIN_BLOCK_RECALL, _at_least),
            ("block precision", overall["block_precision"], MIN_BLOCK_PRECISION, _at_least),
            ("flag recall", overall["flag_recall"], MIN_FLAG_RECALL, _at_least),
            ("ground accuracy", overall["ground_accuracy"], MIN_GROUND_ACCURACY, _at_least),
            *(
                (f"{family} block recall", group["block_recall"], MIN_FAMILY_BLOCK_RECALL, _at_least)
                for family, group in numbers["families"].items()
                if group["expected"]["block"]
            ),
        )
        if not ok(value, bar)
    ]
    detail = "\n".join(misses(outcomes)[:40])
    assert not failures, "\n".join([*failures, "", render(numbers), "", "first misses:", detail])


def _at_least(value: float | None, bar: float) -> bool:
    return value is not None and value >= bar


def _at_most(value: float | None, bar: float) -> bool:
    return value is not None and value <= bar
