"""Replaying a verdict: rebuild its bundle from the stored sources, judge the stored request again.

The replay uses nothing but what the log holds: the sources stored under the verdict's bundle
digest (which must hash to that digest again), the validated listing as canonical JSON and the
`as_of` date. It says whether the decision and every matched policy's grounds (instrument,
article, version applied) come out identical, and lists every difference, evidence included.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tamis.engine import Bundle, Evaluator, ListingError, PolicySetError, SourceTree, Verdict, load_bundle
from tamis.service.verdictforms import match_to_json, verdict_to_json
from tamis.service.verdictlog.records import LoggedVerdict


@dataclass(frozen=True)
class Replay:
    verdict: LoggedVerdict
    replayed: Verdict | None
    decision_identical: bool
    grounds_identical: bool
    differences: list[str] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        """The same decision on the same legal grounds."""
        return self.decision_identical and self.grounds_identical

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: field for field the AuditService's ReplayVerdictResponse."""
        return {
            "identical": self.identical,
            "decision_identical": self.decision_identical,
            "grounds_identical": self.grounds_identical,
            "differences": self.differences,
            "logged": self.verdict.to_dict(),
            "replayed": verdict_to_json(self.replayed) if self.replayed else None,
        }


class Replayer:
    """Replays verdicts, keeping the evaluators of the last few bundles it rebuilt."""

    def __init__(self, sources: Callable[[str], SourceTree | None], capacity: int = 4) -> None:
        self._sources = sources
        self._capacity = capacity
        self._evaluators: OrderedDict[str, Evaluator] = OrderedDict()
        self._lock = threading.Lock()

    def replay(self, logged: LoggedVerdict) -> Replay:
        record = logged.record
        if not record.request:
            return Replay(
                logged, None, False, False, ["its request was erased (personal data): nothing to replay"]
            )
        try:
            evaluator = self._evaluator(record.bundle_digest)
        except CannotRebuild as error:
            return Replay(logged, None, False, False, [str(error)])
        try:
            verdict = evaluator.evaluate(json.loads(record.request), record.as_of)
        except ListingError as error:
            return Replay(logged, None, False, False, [f"the stored request no longer validates: {error}"])
        replayed = [match_to_json(match) for match in verdict.matches]
        grounds_same, differences = _compare(json.loads(record.matches), replayed)
        decision_same = verdict.decision.value == record.decision
        if not decision_same:
            differences.insert(0, f"decision: {record.decision} then, {verdict.decision.value} on replay")
        return Replay(logged, verdict, decision_same, grounds_same, differences)

    def close(self) -> None:
        with self._lock:
            for evaluator in self._evaluators.values():
                evaluator.close()
            self._evaluators.clear()

    def _evaluator(self, digest: str) -> Evaluator:
        with self._lock:
            if digest in self._evaluators:
                self._evaluators.move_to_end(digest)
                return self._evaluators[digest]
        evaluator = Evaluator(rebuild_bundle(digest, self._sources(digest)))
        with self._lock:
            self._evaluators[digest] = evaluator
            while len(self._evaluators) > self._capacity:
                _, oldest = self._evaluators.popitem(last=False)
                oldest.close()
        return evaluator


class CannotRebuild(ValueError):
    """A logged bundle that can no longer be judged with: missing, broken, or not the one logged."""


def rebuild_bundle(digest: str, sources: SourceTree | None) -> Bundle:
    """The bundle the log stored as `digest`, rebuilt from its sources and checked to be that one."""
    if sources is None:
        raise CannotRebuild(f"bundle {digest} is not stored in the log")
    try:
        bundle = load_bundle(sources)
    except PolicySetError as error:
        raise CannotRebuild(f"bundle {digest} no longer loads: {error}") from error
    if bundle.digest != digest:
        raise CannotRebuild(f"the sources stored for bundle {digest} hash to {bundle.digest}")
    return bundle


def _compare(stored: list[dict[str, Any]], replayed: list[dict[str, Any]]) -> tuple[bool, list[str]]:
    """Whether the same policies matched with the same decisions and grounds; every difference."""
    then = {match["policy"]: match for match in stored}
    now = {match["policy"]: match for match in replayed}
    lines = [f"policy {policy}: matched then, not on replay" for policy in sorted(then.keys() - now.keys())]
    lines += [f"policy {policy}: matches on replay, not then" for policy in sorted(now.keys() - then.keys())]
    for policy in sorted(then.keys() & now.keys()):
        old, new = then[policy], now[policy]
        if old["decision"] != new["decision"]:
            lines.append(f"policy {policy}: decision {old['decision']} then, {new['decision']} on replay")
        if old["grounds"] != new["grounds"]:
            lines.append(
                f"policy {policy}: grounds {_cited(old['grounds'])} then, {_cited(new['grounds'])} now"
            )
    grounds_same = not lines
    for policy in sorted(then.keys() & now.keys()):
        if then[policy]["evidence"] != now[policy]["evidence"]:
            lines.append(f"policy {policy}: the evidence differs (decision and grounds are judged apart)")
    return grounds_same, lines


def _cited(grounds: list[dict[str, Any]]) -> str:
    return "; ".join(
        f"{g['instrument']} art. {g['article']} ({g.get('version') or 'no version'})" for g in grounds
    )
