"""Protobuf messages ⇄ the engine's JSON contract, read from the listing's table for speed.

`json_format.MessageToDict` walks descriptors generically and costs tens of microseconds per
listing; these functions read and build exactly the fields of the contract, as the table of
core fields (engine.fields.LISTING) lists them, so a new field cannot be dropped here. A listing becomes
the dict `tamis eval` would have parsed from its JSON line: empty strings count as absent, and
integral numbers in attributes become ints (as JSON `3` would), so the engine sees the same
listing whichever way it came in.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from google.protobuf import struct_pb2

from tamis.engine import (
    LISTING,
    Bundle,
    Confidence,
    CoreField,
    Decision,
    Evidence,
    Ground,
    Kind,
    ListingError,
    Match,
    Verdict,
    cite,
)
from tamis.service.verdictlog.records import NO_RECEIPT, Receipt
from tamis.v1 import listing_pb2, policy_service_pb2, verdict_pb2

#: Beyond this a float cannot hold every integer exactly, so it is kept as a float.
_EXACT_INTEGERS = 2**53

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


# --- listings in -----------------------------------------------------------------------------


def listing_from_proto(message: listing_pb2.Listing) -> dict[str, Any]:
    """The listing as the JSON contract's object (what the engine validates)."""
    return _read(message, _LISTING_READER)


def listing_to_proto(listing: dict[str, Any]) -> listing_pb2.Listing:
    """A JSON contract's listing as the message (what a client sends)."""
    message = listing_pb2.Listing()
    _write(message, LISTING, listing)
    return message


#: How to read each field of a message: (name, how, the reader of its own fields); read once
#: per message type from engine.fields.LISTING rather than walked per listing.
_Reader = tuple[tuple[str, str, Any], ...]


def _reader(table: Mapping[str, CoreField]) -> _Reader:
    fields = []
    for name, spec in table.items():
        if spec.kind is Kind.OBJECT:
            how = "struct" if not spec.children else "object"
        else:
            how = {Kind.STRING: "text", Kind.STRINGS: "list"}.get(spec.kind, "optional")
        fields.append((name, how, _reader(spec.children) if spec.children else ()))
    return tuple(fields)


_LISTING_READER = _reader(LISTING)


def _read(message: Any, reader: _Reader) -> dict[str, Any]:
    """Empty strings and lists, and unset messages and optional scalars, are absent."""
    data: dict[str, Any] = {}
    for name, how, children in reader:
        if how in ("text", "list"):
            value = getattr(message, name)
            if value:
                data[name] = value if how == "text" else list(value)
        elif message.HasField(name):
            value = getattr(message, name)
            if how == "struct":
                value = _struct(value)
            elif how == "object":
                value = _read(value, children)
            data[name] = value
    return data


def _write(message: Any, table: Mapping[str, CoreField], data: dict[str, Any]) -> None:
    for name, spec in table.items():
        value = data.get(name)
        if value is None:
            continue
        if spec.kind is Kind.OBJECT:
            target = getattr(message, name)
            target.SetInParent()  # an empty object is given, not absent
            if spec.children:
                _write(target, spec.children, value)
            else:
                target.update(value)
        elif spec.kind is Kind.STRINGS:
            getattr(message, name).extend(value)
        else:
            setattr(message, name, value)


def _struct(struct: struct_pb2.Struct) -> dict[str, Any]:
    return {key: _value(value) for key, value in struct.fields.items()}


def _value(value: struct_pb2.Value) -> Any:
    kind = value.WhichOneof("kind")
    if kind == "number_value":
        number = value.number_value
        return int(number) if number.is_integer() and abs(number) < _EXACT_INTEGERS else number
    if kind == "string_value":
        return value.string_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "struct_value":
        return _struct(value.struct_value)
    if kind == "list_value":
        return [_value(item) for item in value.list_value.values]
    return None  # null_value, or no kind set


# --- verdicts out ----------------------------------------------------------------------------


def fill_verdict(target: verdict_pb2.Verdict, verdict: Verdict, receipt: Receipt = NO_RECEIPT) -> None:
    """Write `verdict` into `target` in place (building nested messages and copying them in
    would cost a copy per level), with its verdict id and receipt when it was logged."""
    target.listing_id = verdict.listing_id
    target.decision = DECISIONS[verdict.decision]
    target.policy_version = verdict.bundle_digest
    target.as_of = verdict.as_of.isoformat()
    target.verdict_id = receipt.verdict_id
    if receipt.writer:
        target.receipt.writer, target.receipt.seq, target.receipt.hash = (
            receipt.writer,
            receipt.seq,
            receipt.hash,
        )
    for match in verdict.matches:
        _fill_match(target.matches.add(), match)


def verdict_to_proto(verdict: Verdict, receipt: Receipt = NO_RECEIPT) -> verdict_pb2.Verdict:
    message = verdict_pb2.Verdict()
    fill_verdict(message, verdict, receipt)
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
    for item in match.evidence:  # attribute by attribute: upb's keyword arguments cost twice as much
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


def fill_ground(target: verdict_pb2.Ground, ground: Ground) -> None:
    target.instrument = ground.instrument
    target.title = ground.title
    target.article = ground.article
    target.jurisdiction = ground.jurisdiction
    target.url = ground.url
    if ground.version:
        target.version = ground.version


def fill_listing_error(target: policy_service_pb2.ListingError, error: ListingError) -> None:
    target.message = str(error)
    target.too_large = error.too_large
    for violation in error.violations:
        target.violations.add(field=violation.field, description=violation.description)


# --- the bundle ------------------------------------------------------------------------------


def bundle_to_proto(bundle: Bundle, source: str, day: date) -> policy_service_pb2.Bundle:
    """The bundle's description, with every ground cited as of `day`."""
    message = policy_service_pb2.Bundle(
        digest=bundle.digest, source=source, engine_rules=len(bundle.program.rules)
    )
    message.loaded_at.FromDatetime(bundle.loaded_at)
    policy_set = bundle.policy_set
    for index, policy in enumerate(policy_set.policies):
        in_force = policy.in_force
        message.policies.append(
            policy_service_pb2.Policy(
                id=policy.id,
                title=policy.title,
                description=policy.description or "",
                decision=DECISIONS[policy.verdict],
                applies_in=policy.applies_in,
                except_in=policy.except_in,
                countries=sorted(bundle.program.policy_countries[index]),
                effective_from=in_force.from_.isoformat() if in_force.from_ else "",
                effective_to=in_force.to.isoformat() if in_force.to else "",
                confidence=CONFIDENCES[policy.confidence.value],
                note=policy.note or "",
                tags=policy.tags,
                file=policy_set.policy_files[policy.id],
            )
        )
        grounds = message.policies[-1].grounds
        for ref in policy.grounds:
            fill_ground(grounds.add(), cite(bundle, ref.instrument, ref.article, day))
    return message
