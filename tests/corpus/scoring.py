"""Score a policy pack on the corpus: decision precision and recall per family, and grounding.

Decision-level measures compare the verdict's decision with the label. Grounding asks, for a
listing the law flags or blocks, whether every rule the label cites is matched by a policy whose
id is that rule id or starts with it followed by a dot (a pack may split one rule in several
policies, e.g. `eu.tpd.20-3.volumes.tank`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from tamis.engine import Evaluator, ListingError
from tests.corpus.cases import DECISIONS, FAMILIES, Case


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the pack said about one case; `decision` is None when the listing was refused."""

    case: Case
    decision: str | None
    policies: tuple[str, ...]
    error: str = ""

    @property
    def grounded(self) -> bool:
        return all(cites(self.policies, rule) for rule in self.case.rules)


def cites(policies: Iterable[str], rule: str) -> bool:
    """True when some policy id is `rule` or a refinement of it (`rule.` + more)."""
    return any(policy == rule or policy.startswith(rule + ".") for policy in policies)


def evaluate(evaluator: Evaluator, cases: Sequence[Case]) -> list[Outcome]:
    """Judge every case, each as of its own date, in one engine call."""
    results = evaluator.evaluate_many([case.listing for case in cases], [case.as_of for case in cases])
    outcomes = []
    for case, result in zip(cases, results, strict=True):
        if isinstance(result, ListingError):
            outcomes.append(Outcome(case, None, (), str(result)))
        else:
            policies = tuple(match.policy for match in result.matches)
            outcomes.append(Outcome(case, result.decision.value, policies))
    return outcomes


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def measures(outcomes: Sequence[Outcome]) -> dict[str, Any]:
    """The decision and grounding measures of a group of outcomes (None where undefined)."""
    pairs = Counter((o.case.decision, o.decision) for o in outcomes)
    expected = Counter(o.case.decision for o in outcomes)
    got = Counter(o.decision for o in outcomes)
    judged = [o for o in outcomes if o.case.decision != "allow"]
    result: dict[str, Any] = {
        "listings": len(outcomes),
        "expected": {decision: expected[decision] for decision in DECISIONS},
        "got": {decision: got[decision] for decision in DECISIONS},
        "refused": got[None],
    }
    for decision in ("block", "flag"):
        hits = pairs[(decision, decision)]
        result[f"{decision}_precision"] = _ratio(hits, got[decision])
        result[f"{decision}_recall"] = _ratio(hits, expected[decision])
    result["lawful_allowed"] = _ratio(pairs[("allow", "allow")], expected["allow"])
    result["false_block_rate"] = _ratio(pairs[("allow", "block")], expected["allow"])
    result["prohibited_allowed"] = _ratio(pairs[("block", "allow")], expected["block"])
    result["ground_accuracy"] = _ratio(sum(o.grounded for o in judged), len(judged))
    return result


def rule_recall(outcomes: Sequence[Outcome]) -> dict[str, dict[str, int]]:
    """For every rule the labels cite: how many listings cite it, and on how many the pack matched it."""
    table: dict[str, dict[str, int]] = {}
    for outcome in outcomes:
        for rule in outcome.case.rules:
            row = table.setdefault(rule, {"expected": 0, "matched": 0})
            row["expected"] += 1
            row["matched"] += cites(outcome.policies, rule)
    return dict(sorted(table.items()))


def report(outcomes: Sequence[Outcome]) -> dict[str, Any]:
    """Every measure, overall and per family, with per-rule recall: the JSON report."""
    return {
        "overall": measures(outcomes),
        "families": {
            family: measures([o for o in outcomes if o.case.family == family]) for family in FAMILIES
        },
        "rules": rule_recall(outcomes),
        "refused": [f"{o.case.source} {o.case.listing_id}: {o.error}" for o in outcomes if o.error],
    }


_COLUMNS = (
    ("listings", "n"),
    ("block_precision", "blk P"),
    ("block_recall", "blk R"),
    ("flag_precision", "flg P"),
    ("flag_recall", "flg R"),
    ("lawful_allowed", "lawful ok"),
    ("false_block_rate", "lawful blk"),
    ("prohibited_allowed", "prohib allowed"),
    ("ground_accuracy", "grounds"),
)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def render(numbers: dict[str, Any]) -> str:
    """The per-family table of a report, as aligned text."""
    rows = [["family", "a/f/b", *(title for _, title in _COLUMNS)]]
    groups = [*numbers["families"].items(), ("overall", numbers["overall"])]
    for name, group in groups:
        split = "/".join(str(group["expected"][decision]) for decision in DECISIONS)
        rows.append([name, split, *(_cell(group[key]) for key, _ in _COLUMNS)])
    widths = [max(len(row[index]) for row in rows) for index in range(len(rows[0]))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    lines.insert(len(lines) - 1, lines[1])
    return "\n".join(lines)


def misses(outcomes: Sequence[Outcome]) -> list[str]:
    """One line per case whose decision or grounds differ from its label."""
    lines = []
    for o in outcomes:
        missing = [rule for rule in o.case.rules if not cites(o.policies, rule)]
        if o.decision == o.case.decision and not missing:
            continue
        got = o.error or f"{o.decision} {list(o.policies)}"
        lacking = f" missing {missing}" if missing else ""
        lines.append(
            f"{o.case.source} {o.case.listing_id} [{o.case.family}] expected {o.case.decision}"
            f" got {got}{lacking} | {o.case.listing.get('title', '')}"
        )
    return lines
