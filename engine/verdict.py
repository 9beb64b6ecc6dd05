"""Verdicts: the decision on a listing, every policy that matched, why, and on what evidence.

Plain values: their JSON and proto forms are the service's (tamis.service.verdictforms).
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
