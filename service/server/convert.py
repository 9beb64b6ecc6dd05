"""Listings and bundles as protobuf messages, read from the listing's table for speed (a verdict's
forms are tamis.service.verdictforms'; this adds the log's receipt).

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
    CoreField,
    Kind,
    ListingError,
    Verdict,
    cite,
)
from tamis.service.verdictforms import CONFIDENCES, DECISIONS, fill_ground, fill_verdict
from tamis.service.verdictlog.records import Receipt
from tamis.v1 import listing_pb2, policy_service_pb2, verdict_pb2

#: Beyond this a float cannot hold every integer exactly, so it is kept as a float.
_EXACT_INTEGERS = 2**53

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


def fill_logged_verdict(target: verdict_pb2.Verdict, verdict: Verdict, receipt: Receipt) -> None:
    """Write `verdict` into `target` in place, with its verdict id and receipt when it was logged."""
    fill_verdict(target, verdict)
    target.verdict_id = receipt.verdict_id
    if receipt.writer:
        target.receipt.writer, target.receipt.seq, target.receipt.hash = (
            receipt.writer,
            receipt.seq,
            receipt.hash,
        )


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
