"""Verdicts: the decision on a listing, every policy that matched, why, and on what evidence."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from tamis.engine.model import Decision


@dataclass(frozen=True, slots=True)
class Ground:
    """A legal ground as cited: instrument, article, and the article version applied."""

    instrument: str
    title: str
    article: str
    jurisdiction: str
    url: str
    version: str = ""

    def to_dict(self) -> dict[str, Any]:
        data = {
            "instrument": self.instrument,
            "title": self.title,
            "article": self.article,
            "jurisdiction": self.jurisdiction,
            "url": self.url,
        }
        if self.version:
            data["version"] = self.version
        return data


@dataclass(frozen=True, slots=True)
class Evidence:
    """What triggered a policy: a span of a text field, or a field's value.

    `start`/`end` are offsets in the *original* field text (Python string indices), present
    for text evidence only. `lexicon` names the lexicon that matched; `condition` describes
    any other test.
    """

    field: str
    text: str
    start: int | None = None
    end: int | None = None
    lexicon: str = ""
    condition: str = ""

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"field": self.field, "text": self.text}
        if self.start is not None:
            data["start"] = self.start
            data["end"] = self.end
        if self.lexicon:
            data["lexicon"] = self.lexicon
        if self.condition:
            data["condition"] = self.condition
        return data


@dataclass(frozen=True, slots=True)
class Match:
    """One policy that applies to the listing."""

    policy: str
    title: str
    decision: Decision
    countries: tuple[str, ...]
    grounds: tuple[Ground, ...]
    evidence: tuple[Evidence, ...]
    confidence: str = "high"

    def to_dict(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "title": self.title,
            "decision": self.decision.value,
            "countries": list(self.countries),
            "confidence": self.confidence,
            "grounds": [ground.to_dict() for ground in self.grounds],
            "evidence": [item.to_dict() for item in self.evidence],
        }


@dataclass(frozen=True, slots=True)
class Verdict:
    """The answer for one listing, as of one date, under one policy bundle."""

    listing_id: str
    decision: Decision
    matches: tuple[Match, ...]
    policy_version: str
    as_of: date
    #: The listing as judged: validated, aliases resolved (what a log keeps to replay it).
    request: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @staticmethod
    def strongest(matches: tuple[Match, ...]) -> Decision:
        return max((match.decision for match in matches), key=lambda d: d.strength, default=Decision.ALLOW)

    def to_dict(self) -> dict[str, Any]:
        return {
            "listing_id": self.listing_id,
            "decision": self.decision.value,
            "matches": [match.to_dict() for match in self.matches],
            "policy_version": self.policy_version,
            "as_of": self.as_of.isoformat(),
        }
