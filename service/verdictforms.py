"""A verdict's two outside forms, JSON and proto, each both ways, in one place.

The engine hands out plain objects (`tamis.engine.Verdict`, `Match`, `Ground`, `Evidence`); what
they look like to the world is decided here, once: the JSON that `tamis eval`, the CLI and the
verdict log write, and the `tamis.v1.Verdict` message the gRPC services send. The two forms carry
the same fields under the same names (`policy_version` is the wire name of the bundle digest,
which clients already read), and tests/test_verdict_forms.py holds them equal on real verdicts.

Messages are filled in place, attribute by attribute: building nested messages and copying them
in costs a copy per level, and upb's keyword arguments cost twice as much.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from tamis.engine import Confidence, Decision, Evidence, Ground, Match, Verdict
from tamis.v1 import verdict_pb2

DECISIONS = {
    Decision.ALLOW: verdict_pb2.DECISION_ALLOW,
    Decision.FLAG: verdict_pb2.DECISION_FLAG,
    Decision.BLOCK: verdict_pb2.DECISION_BLOCK,
}
CONFIDENCES = {
    Confidence.HIGH.value: verdict_pb2.CONFIDENCE_HIGH,
    Confidence.MEDIUM.value: verdict_pb2.CONFIDENCE_MEDIUM,
    Confidence.LOW.value: verdict_pb2.CONFIDENCE_LOW,
}
_DECISIONS_BACK = {number: decision for decision, number in DECISIONS.items()}
_CONFIDENCES_BACK = {number: confidence for confidence, number in CONFIDENCES.items()}


# --- JSON --------------------------------------------------------------------------------------


def verdict_to_json(verdict: Verdict) -> dict[str, Any]:
    return {
        "listing_id": verdict.listing_id,
        "decision": verdict.decision.value,
        "matches": [match_to_json(match) for match in verdict.matches],
        "policy_version": verdict.bundle_digest,
        "as_of": verdict.as_of.isoformat(),
    }


def verdict_from_json(data: Mapping[str, Any]) -> Verdict:
    """The verdict whose JSON form is `data` (the listing as judged is not part of it)."""
    return Verdict(
        data["listing_id"],
        Decision(data["decision"]),
        tuple(match_from_json(match) for match in data["matches"]),
        data["policy_version"],
        date.fromisoformat(data["as_of"]),
    )


def match_to_json(match: Match) -> dict[str, Any]:
    return {
        "policy": match.policy,
        "title": match.title,
        "decision": match.decision.value,
        "countries": list(match.countries),
        "confidence": match.confidence,
        "grounds": [ground_to_json(ground) for ground in match.grounds],
        "evidence": [evidence_to_json(item) for item in match.evidence],
    }


def match_from_json(data: Mapping[str, Any]) -> Match:
    return Match(
        data["policy"],
        data["title"],
        Decision(data["decision"]),
        tuple(data["countries"]),
        tuple(
            Ground(
                g["instrument"], g["title"], g["article"], g["jurisdiction"], g["url"], g.get("version", "")
            )
            for g in data["grounds"]
        ),
        tuple(
            Evidence(
                e["field"],
                e["text"],
                e.get("start"),
                e.get("end"),
                e.get("lexicon", ""),
                e.get("condition", ""),
            )
            for e in data["evidence"]
        ),
        data["confidence"],
    )


def ground_to_json(ground: Ground) -> dict[str, Any]:
    data = {
        "instrument": ground.instrument,
        "title": ground.title,
        "article": ground.article,
        "jurisdiction": ground.jurisdiction,
        "url": ground.url,
    }
    if ground.version:
        data["version"] = ground.version
    return data


def evidence_to_json(item: Evidence) -> dict[str, Any]:
    """Offsets only for text evidence; lexicon and condition only when set (as in proto)."""
    data: dict[str, Any] = {"field": item.field, "text": item.text}
    if item.start is not None:
        data["start"] = item.start
        data["end"] = item.end
    if item.lexicon:
        data["lexicon"] = item.lexicon
    if item.condition:
        data["condition"] = item.condition
    return data


# --- proto -------------------------------------------------------------------------------------


def fill_verdict(target: verdict_pb2.Verdict, verdict: Verdict) -> None:
    """Write `verdict` into `target` in place (its verdict id and receipt are the log's)."""
    target.listing_id = verdict.listing_id
    target.decision = DECISIONS[verdict.decision]
    target.policy_version = verdict.bundle_digest
    target.as_of = verdict.as_of.isoformat()
    for match in verdict.matches:
        _fill_match(target.matches.add(), match)


def verdict_to_proto(verdict: Verdict) -> verdict_pb2.Verdict:
    message = verdict_pb2.Verdict()
    fill_verdict(message, verdict)
    return message


def verdict_from_proto(message: verdict_pb2.Verdict) -> Verdict:
    """The engine verdict a Verdict message carries (its verdict id and receipt left aside)."""
    return Verdict(
        message.listing_id,
        _DECISIONS_BACK[message.decision],
        tuple(_match_from_proto(match) for match in message.matches),
        message.policy_version,
        date.fromisoformat(message.as_of),
    )


def fill_ground(target: verdict_pb2.Ground, ground: Ground) -> None:
    target.instrument = ground.instrument
    target.title = ground.title
    target.article = ground.article
    target.jurisdiction = ground.jurisdiction
    target.url = ground.url
    if ground.version:
        target.version = ground.version


def _fill_match(target: verdict_pb2.Match, match: Match) -> None:
    target.policy = match.policy
    target.title = match.title
    target.decision = DECISIONS[match.decision]
    target.countries.extend(match.countries)
    target.confidence = CONFIDENCES[match.confidence]
    grounds = target.grounds
    for ground in match.grounds:
        fill_ground(grounds.add(), ground)
    evidence = target.evidence
    for item in match.evidence:
        message = evidence.add()
        message.field = item.field
        message.text = item.text
        if item.start is not None and item.end is not None:
            message.start = item.start
            message.end = item.end
        if item.lexicon:
            message.lexicon = item.lexicon
        if item.condition:
            message.condition = item.condition


def _match_from_proto(message: verdict_pb2.Match) -> Match:
    return Match(
        message.policy,
        message.title,
        _DECISIONS_BACK[message.decision],
        tuple(message.countries),
        tuple(
            Ground(g.instrument, g.title, g.article, g.jurisdiction, g.url, g.version)
            for g in message.grounds
        ),
        tuple(
            Evidence(
                e.field,
                e.text,
                e.start if e.HasField("start") else None,
                e.end if e.HasField("end") else None,
                e.lexicon,
                e.condition,
            )
            for e in message.evidence
        ),
        _CONFIDENCES_BACK[message.confidence],
    )
