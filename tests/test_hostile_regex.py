"""Regular expressions against hostile text: the shipped ones cost time in proportion to the
text, `tamis check` refuses one that does not (with file:line), and a run of 20,000 digits is
read like any other text."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest

from tamis.engine import Bundle, Evaluator, Verdict
from tamis.engine.regexcost import measure, pack_patterns, repeated_samples, slow_patterns, too_slow
from tests.conftest import PackFiles, base_pack, policy
from tests.test_cli import tamis

Write = Callable[[PackFiles], Path]
DAY = date(2025, 11, 20)

QUADRATIC = r"(\d+(?:[.,]\d+)?)\s*mg\b"  # the shipped nicotine pattern before it was bounded


def test_every_shipped_pattern_is_within_budget(shipped_bundle: Bundle) -> None:
    patterns = pack_patterns(shipped_bundle.policy_set)
    assert {file for file, *_ in patterns} >= {"attributes.yaml", "telecoms/fr-laser-pointers.yaml"}
    assert slow_patterns(shipped_bundle.policy_set) == []


def test_backtracking_patterns_are_refused_and_exploding_ones_stopped() -> None:
    """A quadratic pattern is measured over budget; one that explodes is refused without being
    awaited: over budget on a short text, or killed by the watchdog (which comes first depends on
    the machine's load)."""
    assert "characters of '1'" in too_slow(QUADRATIC)
    assert too_slow(r"(?<!\d)(\d{1,15})\s*mg\b") == ""
    slow = measure([r"(a+)+$", r"widget\s\d{1,3}"], budget=0.02)
    assert "did not finish" in slow[r"(a+)+$"] or " takes " in slow[r"(a+)+$"]
    assert r"widget\s\d{1,3}" not in slow  # measured after the child that hung was killed


#: Patterns that passed check while their own repeated text explodes: "x1" * 30 ran for 135 s,
#: "k1k" * 400 for 55 s (red team, R08).
OWN_TEXT_EXPLOSIONS = [r"(?:x\d|x\d)*z", r"(?:k\d\w)+(?:k\d\w)+(?:k\d\w)+!"]


@pytest.mark.parametrize("pattern", OWN_TEXT_EXPLOSIONS, ids=["overlapping-branches", "adjacent-repeats"])
def test_a_pattern_slow_on_its_own_repeated_text_is_refused(pattern: str) -> None:
    reason = measure([pattern])[pattern]
    assert "repeated" in reason or "did not finish" in reason


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        (r"(?:x\d|x\d)*z", [("", "x1")]),
        (r"(?:k\d\w)+(?:k\d\w)+!", [("", "k1a"), ("k1a", "k1a")]),
        (r"(?:ab|c[^a-z1])+e", [("", "ab"), ("", "c ")]),
        (r"id\s{0,2}(\d{3}){2,}", [("id", " "), ("id ", "111"), ("id ", "1")]),
        (r"(?<!\d)\d?x", []),
    ],
    ids=["alternation", "after-another", "each-branch", "lead-in", "no-repetition"],
)
def test_samples_are_derived_from_each_repeated_sub_pattern(
    pattern: str, expected: list[tuple[str, str]]
) -> None:
    assert repeated_samples(pattern) == expected


def test_check_refuses_a_slow_pattern_with_its_file_and_line(write_pack: Write) -> None:
    attributes = {
        "attributes": {
            "nicotine_mg_ml": {"type": "number", "description": "x", "from_text": [{"patterns": [QUADRATIC]}]}
        }
    }
    result = tamis("check", str(write_pack(base_pack(policy(), **{"attributes.yaml": attributes}))))
    assert result.returncode == 1
    assert "attributes.yaml:7:9: error:" in result.stderr and "regular expression takes" in result.stderr
    assert "attributes.nicotine_mg_ml.from_text[0].patterns[0]" in result.stderr


def test_check_refuses_a_policy_regex_slow_on_its_own_text(write_pack: Write) -> None:
    pack = write_pack(base_pack(policy(when={"regex": OWN_TEXT_EXPLOSIONS[0]})))
    result = tamis("check", str(pack))
    assert result.returncode == 1
    assert "rules/p0.yaml:" in result.stderr and "(at when.regex)" in result.stderr


def test_a_run_of_twenty_thousand_digits_is_read_as_text(shipped: Evaluator) -> None:
    """The 12-second listing: a verdict (the unit still counts), and its neighbours untouched."""
    digits = {
        "id": "d",
        "title": "E-liquide nicotine 20 mg/ml",
        "description": "1" * 19_990 + " mg",
        "ship_to": ["FR"],
    }
    plain = {**digits, "description": "Saveur menthe"}
    results = shipped.evaluate_many([plain, digits, plain], DAY)
    decisions = [result.decision for result in results if isinstance(result, Verdict)]
    assert decisions == [shipped.evaluate(plain, DAY).decision] * 3
