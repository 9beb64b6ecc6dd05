"""Read the corpus files into labelled cases, refusing any line that breaks the corpus format.

A line is `{"listing": {...}, "expected": {"decision", "rules", "family", "why"}, "as_of"?, "lang"?}`;
the listing itself is checked against the listing contract by the tests, not here.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

CORPUS_DIR = Path(__file__).resolve().parent
ROOT = CORPUS_DIR.parent.parent
RULES_FILE = CORPUS_DIR / "rules.txt"

#: The law's date when a line gives none.
DEFAULT_AS_OF = date(2026, 6, 1)

#: The headings of REFERENCES.md section 2; a lawful listing takes the family it resembles.
FAMILIES = (
    "adult",
    "weapons",
    "telecoms",
    "tobacco",
    "n2o-alcohol",
    "medicines",
    "cosmetics",
    "toys",
    "marketplace",
    "fireworks-precursors",
    "wildlife-counterfeit-pesticides",
)
DECISIONS = ("allow", "flag", "block")
LANGUAGES = frozenset({"fr", "en", "de", "es", "it", "nl", "pl"})

_LINE_KEYS = frozenset({"listing", "expected", "as_of", "lang"})
_EXPECTED_KEYS = frozenset({"decision", "rules", "family", "why"})
_RULE_ID = re.compile(r"^\| ([a-z]{2}\.[a-z0-9][a-z0-9.-]*) \|")


class CorpusError(ValueError):
    """A corpus line that does not follow the corpus format, named by file and line."""


@dataclass(frozen=True, slots=True)
class Case:
    """One labelled listing: what the law expects for it, and where it was read."""

    listing: dict[str, Any]
    decision: str
    rules: tuple[str, ...]
    family: str
    why: str
    as_of: date
    lang: str
    source: str

    @property
    def listing_id(self) -> str:
        return str(self.listing.get("id", ""))


def load_cases(directory: Path = CORPUS_DIR) -> list[Case]:
    """Every case of every `*.jsonl` file in `directory`, in file then line order."""
    cases: list[Case] = []
    for path in sorted(directory.glob("*.jsonl")):
        for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if text.strip():
                cases.append(_case(json.loads(text), f"{path.name}:{number}"))
    return cases


def _case(line: Any, source: str) -> Case:
    if not isinstance(line, dict):
        raise CorpusError(f"{source}: expected a JSON object")
    unknown = set(line) - _LINE_KEYS
    if unknown or "listing" not in line or "expected" not in line:
        raise CorpusError(f"{source}: keys must be listing, expected and optionally as_of, lang")
    expected = line["expected"]
    if not isinstance(expected, dict) or set(expected) != _EXPECTED_KEYS:
        raise CorpusError(f"{source}: expected must have exactly {', '.join(sorted(_EXPECTED_KEYS))}")
    rules = expected["rules"]
    if not isinstance(rules, list) or not all(isinstance(rule, str) for rule in rules):
        raise CorpusError(f"{source}: expected.rules must be a list of rule ids")
    if expected["decision"] not in DECISIONS:
        raise CorpusError(f"{source}: expected.decision must be one of {', '.join(DECISIONS)}")
    if expected["family"] not in FAMILIES:
        raise CorpusError(f"{source}: expected.family '{expected['family']}' is not a family")
    if not isinstance(expected["why"], str) or not expected["why"].strip():
        raise CorpusError(f"{source}: expected.why must say why in one sentence")
    lang = line.get("lang", "")
    if lang and lang not in LANGUAGES:
        raise CorpusError(f"{source}: lang '{lang}' is not one of {', '.join(sorted(LANGUAGES))}")
    try:
        as_of = date.fromisoformat(line["as_of"]) if "as_of" in line else DEFAULT_AS_OF
    except (TypeError, ValueError):
        raise CorpusError(f"{source}: as_of must be a YYYY-MM-DD date") from None
    return Case(
        listing=line["listing"],
        decision=expected["decision"],
        rules=tuple(rules),
        family=expected["family"],
        why=expected["why"],
        as_of=as_of,
        lang=lang,
        source=source,
    )


#: Rules CORRECTIONS.md adds to the REFERENCES table (it names no id: these are ours).
CORRECTIONS_RULES = {"fr.csp.l3611-2.n2o-quantity": "E7: arrêté du 19 juillet 2023, N2O quantity limits"}


def rule_ids() -> list[str]:
    """The rule ids a label may cite: the corpus's copy of the REFERENCES.md rule table."""
    lines = RULES_FILE.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def reference_rule_ids(references: Path) -> list[str]:
    """The rule ids of the rule table in REFERENCES.md: first cells that look like a rule id."""
    found = (_RULE_ID.match(line) for line in references.read_text(encoding="utf-8").splitlines())
    return [match.group(1) for match in found if match]
