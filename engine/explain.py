"""Why a policy matched a listing or not: every condition with its value, like `opa eval --explain`.

The values come from what the engine was given and compiled: the listing's engine fact (built
with every signal computed, where the engine computes costly ones only when a rule could use
them) and, for each condition, the tests the compiler made of it, walked with the same condition
walker as the compiler (engine.conditions). Text findings only name what was found. `tamis test`
uses the same trace to measure which conditions the examples exercise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from tamis.engine.bundle import Bundle
from tamis.engine.compiler import date_number
from tamis.engine.conditions import Leaf, roots, walk
from tamis.engine.evidence import describe
from tamis.engine.facts import FactBuilder, fact_builder, field_value
from tamis.engine.model import FieldTest, LexiconTest, ObfuscationTest, Policy, RegexTest
from tamis.engine.textscan import OBFUSCATED, TextFindings
from tamis.engine.yamldoc import Path, format_path


@dataclass
class Line:
    """One node of a condition tree, as evaluated."""

    depth: int
    text: str
    value: bool
    path: str
    leaf: bool


@dataclass
class PolicyTrace:
    policy: Policy
    applies_here: bool
    in_force: bool
    when: bool
    exempted: bool
    lines: list[Line] = field(default_factory=list)

    @property
    def matched(self) -> bool:
        return self.applies_here and self.in_force and self.when and not self.exempted

    def render(self) -> str:
        verdict = f"MATCH ({self.policy.decision})" if self.matched else "no match"
        out = [f"{self.policy.id}: {verdict}"]
        out.append(f"  {_mark(self.applies_here)} applies in {self._where()}")
        out.append(f"  {_mark(self.in_force)} in force {self._when()}")
        out += [f"  {'  ' * line.depth}{_mark(line.value)} {line.text}" for line in self.lines]
        if not self.matched:
            out.append(f"  → {self.reason()}")
        return "\n".join(out)

    def reason(self) -> str:
        if not self.applies_here:
            return "not offered where the policy applies"
        if not self.in_force:
            return "not in force on the date judged"
        if not self.when:
            failed = [
                line for line in self.lines if line.leaf and not line.value and line.path.startswith("when")
            ]
            return "condition failed: " + (failed[0].text if failed else "when")
        return "an exception (unless) applies"

    def _where(self) -> str:
        text = ", ".join(self.policy.applies_in)
        return text + (f" except {', '.join(self.policy.except_in)}" if self.policy.except_in else "")

    def _when(self) -> str:
        start, end = self.policy.in_force.from_, self.policy.in_force.to
        return f"from {start or 'always'} to {end or 'open end'}"


def _mark(value: bool) -> str:
    return "✔" if value else "✘"


Traced = tuple[bool, list[Line]]


class _Trace:
    """Fold: a condition → its value on the fact and the lines that show it."""

    def __init__(self, bundle: Bundle, fact: dict[str, Any], findings: TextFindings) -> None:
        self.terms = bundle.program.leaf_terms
        self.fact = fact
        self.findings = findings

    def leaf(self, leaf: Leaf, path: Path, depth: int) -> Traced:
        value = any(all(literal.holds(self.fact) for literal in term) for term in self.terms[leaf])
        return value, [Line(depth, self.text(leaf), value, format_path(path), True)]

    def all(self, children: list[Traced], path: Path, depth: int) -> Traced:
        return self._node("all of:", all(value for value, _ in children), children, path, depth)

    def any(self, children: list[Traced], path: Path, depth: int) -> Traced:
        return self._node("any of:", any(value for value, _ in children), children, path, depth)

    def not_(self, child: Traced, path: Path, depth: int) -> Traced:
        return self._node("not:", not child[0], [child], path, depth)

    @staticmethod
    def _node(text: str, value: bool, children: list[Traced], path: Path, depth: int) -> Traced:
        return value, [
            Line(depth, text, value, format_path(path), False),
            *(line for _, lines in children for line in lines),
        ]

    def text(self, leaf: Leaf) -> str:
        """What the condition tests and what the listing gave it."""
        if isinstance(leaf, ObfuscationTest):
            hits = [h for h in self.findings.terms.get(OBFUSCATED, ()) if h.field in leaf.fields]
            found = f" — {', '.join(sorted({f'{h.field}: {h.term}' for h in hits}))}" if hits else ""
            return f"obfuscated text in {', '.join(leaf.fields)}{found}"
        if isinstance(leaf, LexiconTest):
            hits = [h for h in self.findings.terms.get(leaf.lexicon, ()) if h.field in leaf.fields]
            found = f" — found {', '.join(sorted({h.term for h in hits}))}" if hits else ""
            return f"lexicon {leaf.lexicon} in {', '.join(leaf.fields)}{found}"
        if isinstance(leaf, RegexTest):
            return f"regex {leaf.regex!r} in {', '.join(leaf.fields)}"
        assert isinstance(leaf, FieldTest)
        value = field_value(self.findings.listing, self.findings, leaf.field, leaf.source)
        return f"{describe(leaf)} (value: {'absent' if value is None else repr(value)})"


class Explainer:
    """Traces a bundle's policies over validated listings."""

    def __init__(self, bundle: Bundle) -> None:
        self.bundle = bundle
        self._build: FactBuilder = fact_builder(bundle.program.plan, complete=True)

    def trace(
        self, listing: dict[str, Any], day: date, policies: set[str] | None = None
    ) -> list[PolicyTrace]:
        """Each policy's trace (or only those named in `policies`), in the pack's order."""
        scanner = self.bundle.scanner
        findings = scanner.scan(listing, complete=True)
        fact = self._build(scanner, findings, date_number(day), 0)
        tracer = _Trace(self.bundle, fact, findings)
        program = self.bundle.program
        traces = []
        for index, policy in enumerate(self.bundle.policy_set.policies):
            if policies is not None and policy.id not in policies:
                continue
            scope, *dates = program.policy_scopes[index]
            lines: list[Line] = []
            values = []
            for condition, path in roots(policy):
                value, shown = walk(condition, tracer, path, 1 if path[0] == "unless" else 0)
                if path[0] == "unless":
                    lines.append(Line(0, f"{format_path(path)}:", value, format_path(path), False))
                lines += shown
                values.append(value)
            traces.append(
                PolicyTrace(
                    policy,
                    applies_here=scope.holds(fact),
                    in_force=all(literal.holds(fact) for literal in dates),
                    when=values[0],
                    exempted=any(values[1:]),
                    lines=lines,
                )
            )
        return traces
