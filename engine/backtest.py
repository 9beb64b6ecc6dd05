"""Comparing two judgements of the same listings: what a change of policies (or of date) does.

Each listing is judged twice, by a baseline and by a candidate; `Backtest.compare` takes the two
outcomes and tallies decision transitions, the policies each listing newly matches or no longer
matches, and the grounds that changed for a policy matched both times. A listing is *changed*
when any of these differ; evidence alone is not a change (as in a replay). Memory stays bounded
whatever the number of listings: counters, and a few examples per transition.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from tamis.engine.errors import ListingError
from tamis.engine.verdict import Match, Verdict

Outcome = Verdict | ListingError

#: What a listing's judgement can be, weakest first; `error`: it broke the listing contract.
OUTCOMES = ("allow", "flag", "block", "error")

#: Kinds of change that `--fail-on` can turn into a failure, and what each means.
GATES = {
    "new-blocks": "a listing not blocked before is blocked",
    "released-blocks": "a listing blocked before is no longer blocked",
    "new-flags": "a listing allowed before is flagged",
    "released-flags": "a listing flagged before is allowed",
    "any": "any listing changes",
}

#: Examples kept per transition for the readable report.
EXAMPLES = 3


def decision_of(outcome: Outcome) -> str:
    return "error" if isinstance(outcome, ListingError) else outcome.decision.value


@dataclass(frozen=True)
class Change:
    """One listing judged differently by the candidate."""

    key: str
    listing_id: str
    before: Outcome
    after: Outcome
    newly_matched: tuple[str, ...]
    no_longer_matched: tuple[str, ...]
    grounds_changed: tuple[str, ...]

    @property
    def transition(self) -> tuple[str, str]:
        return decision_of(self.before), decision_of(self.after)

    def gates(self) -> set[str]:
        """The `--fail-on` kinds this change trips."""
        before, after = self.transition
        tripped = {"any"}
        if after == "block" and before != "block":
            tripped.add("new-blocks")
        if before == "block" and after != "block":
            tripped.add("released-blocks")
        if before == "allow" and after == "flag":
            tripped.add("new-flags")
        if before == "flag" and after == "allow":
            tripped.add("released-flags")
        return tripped


@dataclass
class PolicyTally:
    newly_matched: int = 0
    no_longer_matched: int = 0
    grounds_changed: int = 0


@dataclass
class Backtest:
    """Running totals of a backtest; `compare` each listing, then read the totals."""

    listings: int = 0
    changed: int = 0
    transitions: Counter[tuple[str, str]] = field(default_factory=Counter)
    policies: dict[str, PolicyTally] = field(default_factory=dict)
    gates: Counter[str] = field(default_factory=Counter)
    examples: dict[tuple[str, str], list[Change]] = field(default_factory=dict)

    def compare(self, key: str, listing_id: str, before: Outcome, after: Outcome) -> Change | None:
        """Tally one listing; its Change when the candidate judges it differently."""
        self.listings += 1
        transition = decision_of(before), decision_of(after)
        self.transitions[transition] += 1
        old, new = _matches(before), _matches(after)
        newly = tuple(sorted(new.keys() - old.keys()))
        gone = tuple(sorted(old.keys() - new.keys()))
        regrounded = tuple(
            sorted(
                policy
                for policy in old.keys() & new.keys()
                if old[policy].grounds != new[policy].grounds or old[policy].decision != new[policy].decision
            )
        )
        if transition[0] == transition[1] and not (newly or gone or regrounded):
            return None
        change = Change(key, listing_id, before, after, newly, gone, regrounded)
        self.changed += 1
        for policy, attribute in (
            *((p, "newly_matched") for p in newly),
            *((p, "no_longer_matched") for p in gone),
            *((p, "grounds_changed") for p in regrounded),
        ):
            tally = self.policies.setdefault(policy, PolicyTally())
            setattr(tally, attribute, getattr(tally, attribute) + 1)
        self.gates.update(change.gates())
        kept = self.examples.setdefault(transition, [])
        if len(kept) < EXAMPLES:
            kept.append(change)
        return change

    def summary(self) -> dict[str, Any]:
        """The totals as JSON: transitions, per-policy counts, gate counts."""
        return {
            "listings": self.listings,
            "changed": self.changed,
            "transitions": [
                {"before": before, "after": after, "listings": count}
                for (before, after), count in sorted(self.transitions.items(), key=_by_outcome)
            ],
            "policies": {
                policy: {
                    "newly_matched": tally.newly_matched,
                    "no_longer_matched": tally.no_longer_matched,
                    "grounds_changed": tally.grounds_changed,
                }
                for policy, tally in sorted(self.policies.items())
            },
            "gates": {gate: self.gates[gate] for gate in GATES},
        }


def _matches(outcome: Outcome) -> dict[str, Match]:
    return {} if isinstance(outcome, ListingError) else {match.policy: match for match in outcome.matches}


def _by_outcome(item: tuple[tuple[str, str], int]) -> tuple[int, int]:
    (before, after), _ = item
    return OUTCOMES.index(before), OUTCOMES.index(after)
