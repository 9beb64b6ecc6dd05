"""Why a policy matched a listing or not: every condition with its value, like `opa eval --explain`.

This walks the policy model directly over the listing's text findings, so it can say which
condition failed; verdicts themselves always come from the durable-rules engine. `tamis test`
uses the same trace to measure which conditions the examples exercise.
"""

from __future__ import annotations

import operator as operator_module
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from engine import countries
from engine.compiler import fold_value, member_values
from engine.evidence import describe
from engine.facts import field_value
from engine.model import (
    AllOf,
    AnyOf,
    Condition,
    FieldTest,
    LexiconTest,
    NotOf,
    ObfuscationTest,
    Policy,
    RegexTest,
)
from engine.policyset import PolicySet
from engine.textscan import OBFUSCATED, TextFindings
from engine.yamldoc import format_path


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
        start, end = self.policy.effective.from_, self.policy.effective.to
        return f"from {start or 'always'} to {end or 'open end'}"


_COMPARE = {
    "lt": operator_module.lt,
    "lte": operator_module.le,
    "gt": operator_module.gt,
    "gte": operator_module.ge,
}


def _mark(value: bool) -> str:
    return "✔" if value else "✘"


class _Tracer:
    def __init__(self, policy_set: PolicySet, listing: dict[str, Any], findings: TextFindings) -> None:
        self.policy_set = policy_set
        self.listing = listing
        self.findings = findings
        self.lines: list[Line] = []

    def condition(self, condition: Condition, path: tuple[str | int, ...], depth: int) -> bool:
        if isinstance(condition, AllOf | AnyOf):
            key = "all" if isinstance(condition, AllOf) else "any"
            children = condition.all if isinstance(condition, AllOf) else condition.any
            line = Line(depth, f"{key} of:", False, format_path(path), False)
            self.lines.append(line)
            values = [self.condition(child, (*path, key, i), depth + 1) for i, child in enumerate(children)]
            line.value = all(values) if key == "all" else any(values)
            return line.value
        if isinstance(condition, NotOf):
            line = Line(depth, "not:", False, format_path(path), False)
            self.lines.append(line)
            line.value = not self.condition(condition.not_, (*path, "not"), depth + 1)
            return line.value
        value, text = self.leaf(condition)
        self.lines.append(Line(depth, text, value, format_path(path), True))
        return value

    def leaf(self, leaf: LexiconTest | RegexTest | ObfuscationTest | FieldTest) -> tuple[bool, str]:
        if isinstance(leaf, ObfuscationTest):
            hits = [h for h in self.findings.terms.get(OBFUSCATED, ()) if h.field in leaf.fields]
            found = f" — {', '.join(sorted({f'{h.field}: {h.term}' for h in hits}))}" if hits else ""
            return bool(hits), f"obfuscated text in {', '.join(leaf.fields)}{found}"
        if isinstance(leaf, LexiconTest):
            hits = [h for h in self.findings.terms.get(leaf.lexicon, ()) if h.field in leaf.fields]
            found = f" — found {', '.join(sorted({h.term for h in hits}))}" if hits else ""
            return bool(hits), f"lexicon {leaf.lexicon} in {', '.join(leaf.fields)}{found}"
        if isinstance(leaf, RegexTest):
            hits = [h for h in self.findings.patterns.get(leaf.regex, ()) if h.field in leaf.fields]
            return bool(hits), f"regex {leaf.regex!r} in {', '.join(leaf.fields)}"
        value = field_value(self.listing, self.findings, leaf.field, leaf.source)
        shown = "absent" if value is None else repr(value)
        return self.field_test(leaf, value), f"{describe(leaf)} (value: {shown})"

    def field_test(self, leaf: FieldTest, value: Any) -> bool:
        operator, operand = leaf.operator, leaf.operand
        if operator == "present":
            return (value is not None) is bool(operand)
        if value is None:
            return False
        if operator in _COMPARE:
            return bool(_COMPARE[operator](value, operand))
        if operator == "equals" and not isinstance(value, str):
            return bool(value == operand)
        items = value if isinstance(value, list) else [value]
        wanted = member_values(self.policy_set, leaf)
        return any(fold_value(item) in wanted for item in items)


def trace_policy(
    policy_set: PolicySet, policy: Policy, listing: dict[str, Any], findings: TextFindings, day: date
) -> PolicyTrace:
    where = countries.expand(list(policy.applies_in), list(policy.except_in))
    tracer = _Tracer(policy_set, listing, findings)
    when = tracer.condition(policy.when, ("when",), 0)
    exempted = False
    for index, exception in enumerate(policy.unless):
        tracer.lines.append(Line(0, f"unless[{index}]:", False, f"unless[{index}]", False))
        header = tracer.lines[-1]
        header.value = tracer.condition(exception, ("unless", index), 1)
        exempted = exempted or header.value
    return PolicyTrace(
        policy,
        applies_here=any(code in where for code in listing["ship_to"]),
        in_force=policy.effective.covers(day),
        when=when,
        exempted=exempted,
        lines=tracer.lines,
    )
