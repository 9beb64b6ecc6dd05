"""The engine's batch path gives the verdicts a plain reference gives, on a large generated corpus.

The batch path is built for speed: durable-rules hands over each rule's matches of a batch in
one action read without parsing facts, lexicon hits are sorted once per raw match, evidence
comes from readers worked out per bundle. The reference, written here only, is the definition
read straight: every compiled rule tested against the listing's complete fact (every signal
computed, no durable-rules), and evidence rebuilt from the fired rules' positive tests with
the spans mapped back to the original text. Decisions, countries, grounds and every evidence
item with its offsets must be equal, listing by listing.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest

from bench.corpus import generate
from bench.synthetic import synthetic_pack
from tamis.engine import Bundle, Evaluator, ListingError, Verdict, load_bundle
from tamis.engine.compiler import date_number
from tamis.engine.evaluator import cite
from tamis.engine.evidence import MAX_EVIDENCE, describe
from tamis.engine.facts import fact_builder
from tamis.engine.listing import validate_listing
from tamis.engine.model import FieldTest, LexiconTest, ObfuscationTest, RegexTest
from tamis.engine.textscan import OBFUSCATED, TextFindings
from tamis.service.verdictforms import ground_to_json, verdict_to_json
from tests.conftest import POLICIES, samples

LISTINGS = 2000
BATCH = 256
#: Listings are judged as of these days in turn (a batch may carry one day per listing).
DAYS = (date(2025, 11, 20), date(2019, 6, 1))


def reference(bundle: Bundle, raw: dict[str, Any], day: date) -> dict[str, Any]:
    """The verdict of one listing, as `verdict_to_json` writes it."""
    listing = validate_listing(raw, fields=bundle.policy_set.fields)
    findings = bundle.scanner.scan(listing, complete=True)
    fact = fact_builder(bundle.program.plan, complete=True)(bundle.scanner, findings, date_number(day), 0)
    fired: dict[int, list[Any]] = {}
    for rule in bundle.program.rules.values():
        if all(literal.holds(fact) for literal in rule.literals):
            fired.setdefault(rule.policy, []).extend(rule.literals)
    matches: list[dict[str, Any]] = []
    for index, literals in fired.items():
        policy = bundle.policy_set.policies[index]
        where = bundle.program.policy_countries[index]
        matches.append(
            {
                "policy": policy.id,
                "title": policy.title,
                "decision": policy.verdict.value,
                "countries": [code for code in listing["ship_to"] if code in where],
                "confidence": policy.confidence.value,
                "grounds": [
                    ground_to_json(cite(bundle, ground.instrument, ground.article, day))
                    for ground in policy.grounds
                ],
                "evidence": _evidence(literals, listing, findings),
            }
        )
    strength = {policy.id: policy.verdict.strength for policy in bundle.policy_set.policies}
    matches.sort(key=lambda match: (-strength[match["policy"]], match["policy"]))
    decision = matches[0]["decision"] if matches else "allow"
    return {
        "listing_id": listing["id"],
        "decision": decision,
        "matches": matches,
        "policy_version": bundle.digest,
        "as_of": day.isoformat(),
    }


def _evidence(literals: list[Any], listing: dict[str, Any], findings: TextFindings) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for literal in literals:
        if literal.leaf is not None and literal.positive:
            for item in _items(literal.leaf, listing, findings):
                if item not in items:
                    items.append(item)
    spans = [item for item in items if "lexicon" in item]
    kept = [
        item
        for item in items
        if not any(
            other is not item
            and (other["field"], other["lexicon"]) == (item["field"], item.get("lexicon"))
            and other["start"] <= item["start"]
            and item["end"] <= other["end"]
            for other in spans
        )
    ]
    kept.sort(key=lambda e: (e["field"], e.get("start", 0), e.get("lexicon", ""), e.get("condition", "")))
    return kept[:MAX_EVIDENCE]


def _items(leaf: Any, listing: dict[str, Any], findings: TextFindings) -> list[dict[str, Any]]:
    def span(field: str, start: int, end: int, words: bool) -> dict[str, Any]:
        text = findings.text(field)
        assert text is not None
        mapped = (text.source_of_words if words else text.source_of_folded)(start, end)
        return {
            "field": field,
            "text": text.original[mapped[0] : mapped[1]],
            "start": mapped[0],
            "end": mapped[1],
        }

    if isinstance(leaf, LexiconTest):
        hits = [hit for hit in findings.terms.get(leaf.lexicon, []) if hit.field in leaf.fields]
        return [{**span(hit.field, hit.start, hit.end, True), "lexicon": leaf.lexicon} for hit in hits]
    if isinstance(leaf, RegexTest):
        hits = [hit for hit in findings.patterns.get(leaf.regex, []) if hit.field in leaf.fields]
        return [
            {**span(hit.field, hit.start, hit.end, False), "condition": f"regex {leaf.regex}"} for hit in hits
        ]
    if isinstance(leaf, ObfuscationTest):
        return [
            {
                "field": hit.field,
                "text": _original(findings, hit.field)[hit.start : hit.end],
                "start": hit.start,
                "end": hit.end,
                "condition": f"obfuscated: {hit.term}",
            }
            for hit in findings.terms.get(OBFUSCATED, [])
            if hit.field in leaf.fields
        ]
    assert isinstance(leaf, FieldTest)
    name = leaf.field.removeprefix("attributes.")
    stated = listing.get("attributes", {}).get(name) if leaf.field.startswith("attributes.") else None
    inferred = findings.inferred.get(name)
    from_text = leaf.source == "text" or (leaf.source == "any" and stated is None)
    if leaf.field.startswith("attributes.") and from_text and inferred is not None:
        shown = f"{describe(leaf)} (read from text: {_plain(inferred.value)})"
        return [{**span(inferred.hit.field, inferred.hit.start, inferred.hit.end, False), "condition": shown}]
    value: Any = listing
    for part in leaf.field.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if leaf.source == "text":
        value = None
    if isinstance(value, dict):
        value = "present"
    elif isinstance(value, list):
        value = ", ".join(value)
    return [
        {
            "field": leaf.field,
            "text": "" if value is None else _plain(value),
            "condition": describe(leaf),
        }
    ]


def _original(findings: TextFindings, field: str) -> str:
    text = findings.text(field)
    assert text is not None
    return text.original


def _plain(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def corpus() -> Iterator[dict[str, Any]]:
    yield from samples()
    yield from generate(LISTINGS)


@pytest.fixture(scope="module", params=["shipped", "synthetic:200"])
def bundle(request: pytest.FixtureRequest) -> Bundle:
    pack = str(request.param)
    return load_bundle(POLICIES if pack == "shipped" else synthetic_pack(int(pack.split(":")[1])))


def test_batches_give_the_reference_verdicts(bundle: Bundle) -> None:
    listings = list(corpus())
    days = [DAYS[number % len(DAYS)] for number in range(len(listings))]
    evaluator = Evaluator(bundle)
    try:
        verdicts = [
            verdict
            for start in range(0, len(listings), BATCH)
            for verdict in evaluator.evaluate_many(
                listings[start : start + BATCH], days[start : start + BATCH]
            )
        ]
    finally:
        evaluator.close()
    compared = matched = evidence = 0
    for raw, day, verdict in zip(listings, days, verdicts, strict=True):
        if isinstance(verdict, ListingError):
            continue
        assert isinstance(verdict, Verdict)
        expected = reference(bundle, raw, day)
        assert verdict_to_json(verdict) == expected, verdict.listing_id
        compared += 1
        matched += bool(verdict.matches)
        evidence += sum(len(match.evidence) for match in verdict.matches)
    # The corpus exercises what it must: most listings judged, a hundred matched, with evidence.
    assert compared > LISTINGS * 0.9
    assert matched > 80
    assert evidence > matched
