"""Run every policy's examples through the real engine and measure what they exercise.

A policy passes when each `match` example matches it and each `no_match` example does not.
Coverage: a policy is exercised when one of its `match` examples matches; a condition (a leaf
of `when` or `unless`) is exercised when it holds for at least one example.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from tamis.engine.bundle import Bundle
from tamis.engine.errors import ListingError
from tamis.engine.evaluator import Evaluator, today
from tamis.engine.explain import Explainer
from tamis.engine.listing import validate_listing
from tamis.engine.model import Policy
from tamis.engine.policyset import example_listing
from tamis.engine.verdict import Verdict


@dataclass
class ExampleResult:
    kind: str  # match | no_match
    index: int
    passed: bool
    location: str
    reason: str = ""


@dataclass
class PolicyReport:
    policy: Policy
    results: list[ExampleResult] = field(default_factory=list)
    conditions: dict[str, bool] = field(default_factory=dict)  # leaf path → exercised

    @property
    def passed(self) -> bool:
        return all(result.passed for result in self.results)

    @property
    def exercised(self) -> bool:
        return any(r.kind == "match" and r.passed for r in self.results)


@dataclass
class TestReport:
    policies: list[PolicyReport]

    @property
    def passed(self) -> bool:
        return all(report.passed for report in self.policies)

    def policy_coverage(self) -> tuple[int, int]:
        return sum(r.exercised for r in self.policies), len(self.policies)

    def condition_coverage(self) -> tuple[int, int]:
        flags = [value for r in self.policies for value in r.conditions.values()]
        return sum(flags), len(flags)


def example_day(policy: Policy, as_of: date | None, now: date) -> date:
    """The date an example is judged at: its own, else today kept inside the policy's dates."""
    if as_of is not None:
        return as_of
    day = now
    if policy.in_force.to is not None and day > policy.in_force.to:
        day = policy.in_force.to
    if policy.in_force.from_ is not None and day < policy.in_force.from_:
        day = policy.in_force.from_
    return day


def run_examples(bundle: Bundle, evaluator: Evaluator | None = None, now: date | None = None) -> TestReport:
    policy_set = bundle.policy_set
    evaluator = evaluator or Evaluator(bundle)
    now = now or today()
    cases = []
    for policy in policy_set.policies:
        for kind in ("match", "no_match"):
            for index, example in enumerate(getattr(policy.examples, kind)):
                listing, as_of = example_listing(policy, kind, index, example)
                cases.append((policy, kind, index, listing, example_day(policy, as_of, now)))
    verdicts = evaluator.evaluate_many([case[3] for case in cases], [case[4] for case in cases])
    explainer = Explainer(bundle)
    reports = {policy.id: PolicyReport(policy) for policy in policy_set.policies}
    for (policy, kind, index, listing, day), verdict in zip(cases, verdicts, strict=True):
        report = reports[policy.id]
        location = str(policy_set.locate(policy.id, ("examples", kind, index)))
        if isinstance(verdict, ListingError):
            report.results.append(ExampleResult(kind, index, False, location, f"invalid listing: {verdict}"))
            continue
        clean = validate_listing(listing, fields=policy_set.fields)
        [trace] = explainer.trace(clean, day, {policy.id})
        for line in trace.lines:
            if line.leaf:
                report.conditions[line.path] = report.conditions.get(line.path, False) or line.value
        matched = _matched(verdict, policy.id)
        passed = matched == (kind == "match")
        reason = (
            ""
            if passed
            else (
                f"expected a match on {day}: {trace.reason()}"
                if kind == "match"
                else f"matched on {day} but should not have"
            )
        )
        report.results.append(ExampleResult(kind, index, passed, location, reason))
    return TestReport(list(reports.values()))


def _matched(verdict: Verdict, policy_id: str) -> bool:
    return any(match.policy == policy_id for match in verdict.matches)
