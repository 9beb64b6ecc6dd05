"""Verdicts: the decision on a listing, every policy that matched, why, and on what evidence.

Each class owns its JSON form both ways (`to_dict` / `from_dict`): the verdict log and the CLI
need it without gRPC; service/server/convert.py owns the proto form.
"""

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

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Ground:
        return cls(
            data["instrument"],
            data["title"],
            data["article"],
            data["jurisdiction"],
            data["url"],
            data.get("version", ""),
        )


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

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Evidence:
        return cls(
            data["field"],
            data["text"],
            data.get("start"),
            data.get("end"),
            data.get("lexicon", ""),
            data.get("condition", ""),
        )


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

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Match:
        return cls(
            data["policy"],
            data["title"],
            Decision(data["decision"]),
            tuple(data["countries"]),
            tuple(Ground.from_dict(ground) for ground in data["grounds"]),
            tuple(Evidence.from_dict(item) for item in data["evidence"]),
            data["confidence"],
        )


@dataclass(frozen=True, slots=True)
class Verdict:
    """The answer for one listing, as of one date, under one policy bundle."""

    listing_id: str
    decision: Decision
    matches: tuple[Match, ...]
    #: The digest ("sha256:…") of the bundle that judged; `policy_version` on the wire (JSON, proto),
    #: a name clients already read.
    bundle_digest: str
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
            "policy_version": self.bundle_digest,
            "as_of": self.as_of.isoformat(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Verdict:
        """The verdict whose `to_dict` is `data` (the listing as judged is not part of it)."""
        return cls(
            data["listing_id"],
            Decision(data["decision"]),
            tuple(Match.from_dict(match) for match in data["matches"]),
            data["policy_version"],
            date.fromisoformat(data["as_of"]),
        )
