"""A pattern's literal requirements as tests (engine.textscan._LiteralIndex.may_match): a rare
character every branch of an alternation holds is required, a single literal is sought with `in`,
and the answer is the one the requirement sets give, literal by literal."""

from __future__ import annotations

import pytest

from bench.corpus import generate
from tamis.engine import load_bundle
from tamis.engine.listing import validate_listing
from tamis.engine.regexfilter import required_literal_sets
from tamis.engine.textscan import FieldText, TextFindings
from tests.conftest import POLICIES

BUNDLE = load_bundle(POLICIES)
SCANNER = BUNDLE.scanner
PATTERNS = [pattern for pattern, _ in SCANNER._patterns.values()] + [
    spec[0] for specs in SCANNER._extractions.values() for spec in specs
]


@pytest.mark.parametrize(
    ("pattern", "rare"),
    [
        (r"(?:12 %|15\s*%)acid", True),
        (r"(?:12 %|15)acid", False),
        (r"(?:(?:1|2)%)+acid", True),
        (r"(?:1%)?acid", False),
        (r"acid(?<!%)", False),
    ],
)
def test_a_rare_character_is_required_where_every_match_holds_it(pattern: str, rare: bool) -> None:
    assert (("%",) in required_literal_sets(pattern)) is rare


def test_the_shipped_acid_conditions_need_a_percent_sign() -> None:
    """All three are searched on every listing: most listings have no "%", and no automaton runs."""
    percent = SCANNER._literals._ids["%"]
    acids = [pattern for pattern, _ in SCANNER._patterns.values() if "nitric acid" in pattern.regex.pattern]
    assert len(acids) == 3
    assert all(frozenset({percent}) in pattern.needs for pattern in acids)  # type: ignore[operator]


def test_checks_agree_with_the_requirement_sets_on_the_corpus() -> None:
    literals = SCANNER._literals
    names = list(literals._ids)
    for raw in [*generate(300), {"id": "p", "title": "12 % nitric acid, nicotine 2 % mg", "ship_to": ["FR"]}]:
        findings = TextFindings(validate_listing(raw, fields=BUNDLE.policy_set.fields))
        for name in ("title", "description"):
            text = findings.text(name)
            if text is None:
                continue
            held = {index for index, literal in enumerate(names) if literal in text.folded}
            for pattern in PATTERNS:
                expected = pattern.needs is None or all(not needs.isdisjoint(held) for needs in pattern.needs)
                assert literals.may_match(pattern, FieldText(text.original, text.folded)) is expected
