"""Protobuf messages ⇄ the engine's JSON contract, written out by hand for speed.

`json_format.MessageToDict` walks descriptors generically and costs tens of microseconds per
listing; these functions read and build exactly the fields of the contract. A listing becomes
the dict `tamis eval` would have parsed from its JSON line: empty strings count as absent, and
integral numbers in attributes become ints (as JSON `3` would), so the engine sees the same
listing whichever way it came in.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from google.protobuf import struct_pb2

from engine import Bundle, Decision, Ground, ListingError, Match, Verdict
from engine.evaluator import cite
from engine.model import Confidence
from service.verdictlog.records import NO_RECEIPT, Receipt
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


# --- listings in -----------------------------------------------------------------------------


def listing_from_proto(message: listing_pb2.Listing) -> dict[str, Any]:
    """The listing as the JSON contract's object (what the engine validates)."""
    listing: dict[str, Any] = {}
    for name in ("id", "title", "description", "category", "brand", "gtin"):
        value = getattr(message, name)
        if value:
            listing[name] = value
    if message.HasField("price"):
        price = message.price
        listing["price"] = _price(price)
    if message.HasField("attributes"):
        listing["attributes"] = _struct(message.attributes)
    if message.HasField("seller"):
        listing["seller"] = _seller(message.seller)
    if message.ship_to:
        listing["ship_to"] = list(message.ship_to)
    if message.marketplace:
        listing["marketplace"] = message.marketplace
    if message.listed_at:
        listing["listed_at"] = message.listed_at
    return listing


def _price(price: listing_pb2.Price) -> dict[str, Any]:
    data: dict[str, Any] = {}
    if price.HasField("amount"):
        data["amount"] = price.amount
    if price.currency:
        data["currency"] = price.currency
    return data


def _seller(seller: listing_pb2.Seller) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for name in ("id", "name", "country"):
        value = getattr(seller, name)
        if value:
            data[name] = value
    if seller.HasField("trader"):
        trader = seller.trader
        details: dict[str, Any] = {}
        for name in ("name", "address", "registration_number"):
            value = getattr(trader, name)
            if value:
                details[name] = value
        if trader.HasField("self_certified"):
            details["self_certified"] = trader.self_certified
        data["trader"] = details
    return data


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
    target.policy_version = verdict.policy_version
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
        effective = policy.effective
        message.policies.append(
            policy_service_pb2.Policy(
                id=policy.id,
                title=policy.title,
                description=policy.description or "",
                decision=DECISIONS[policy.verdict],
                applies_in=policy.applies_in,
                except_in=policy.except_in,
                countries=sorted(bundle.program.policy_countries[index]),
                effective_from=effective.from_.isoformat() if effective.from_ else "",
                effective_to=effective.to.isoformat() if effective.to else "",
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
