"""Patterns for numbers tried only near digits (engine.regexfilter.digit_reach, _Pattern.matches)
find exactly what the regex engine finds scanning every start: the shipped pack's patterns on
generated texts of digits, units and punctuation, and on hostile runs of digits."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tamis.engine import load_bundle
from tamis.engine.regexfilter import after_non_digit, digit_reach
from tamis.engine.textscan import MAX_TRIES, _Pattern
from tests.conftest import POLICIES

SCANNER = load_bundle(POLICIES).scanner
PATTERNS = [pattern for pattern, _ in SCANNER._patterns.values()] + [
    spec[0] for specs in SCANNER._extractions.values() for spec in specs
]
TEXT = st.lists(
    st.one_of(
        st.sampled_from(["mg", "ml", "cm", "mw", "%", " % ", "vol", "x", "m", "ft", '"', "e", "e-", "1e5"]),
        st.text("0123456789 .,%x-", max_size=8),
        st.sampled_from(["nicotine", "puffs", "shots", "classe 4", "watts", "٣", "12,5", "1 000"]),
    ),
    max_size=16,
).map(" ".join)


def assert_same(pattern: _Pattern, text: str) -> None:
    assert [m.span() for m in pattern.matches(text)] == [m.span() for m in pattern.regex.finditer(text)]
    first = pattern.regex.search(text)
    assert [m.span() for m in pattern.matches(text, first=True)] == ([first.span()] if first else [])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(TEXT)
def test_trying_starts_near_digits_finds_what_the_regex_engine_finds(text: str) -> None:
    for pattern in PATTERNS:
        assert_same(pattern, text)


@pytest.mark.parametrize("text", ["1" * 20_000, "1 " * 10_000, "a1" * 5_000, "12 cm 3,5 mg 14% vol " * 200])
def test_digit_heavy_text_is_left_to_the_regex_engine_with_the_same_matches(text: str) -> None:
    for pattern in PATTERNS:
        assert_same(pattern, text)


def test_the_shipped_number_patterns_are_tried_near_digits() -> None:
    """Most extraction patterns start with an assertion the regex engine cannot skip with."""
    near = [pattern for pattern in PATTERNS if pattern.reach is not None]
    assert len(near) >= 10
    assert MAX_TRIES > 0


@pytest.mark.parametrize(
    ("pattern", "reach", "after"),
    [
        (r"(?<!\d)(\d+)\s*mg", 0, True),
        (r"(?:^|[^\d.,])(\d{2})\s*cm", 1, True),
        (r"[a-z](\d)", 1, False),
        (r"x\s{0,2}(\d+)", None, False),  # beyond MAX_REACH
        (r"(?:a|1)\d", 1, False),  # a branch without a digit counts with its width
        (r"mg", None, False),
        (r"(\d)?mg", None, False),
        (r"\d*x", None, False),
        (r"[\d.]5", 1, False),
    ],
)
def test_digit_reach_of_small_patterns(pattern: str, reach: int | None, after: bool) -> None:
    assert digit_reach(pattern) == reach
    assert after_non_digit(pattern) is after
