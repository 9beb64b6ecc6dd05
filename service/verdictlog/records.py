"""What the log keeps per verdict, and how an engine verdict becomes a record.

A record stores the request exactly as judged: the *validated* listing (aliases resolved) as
canonical JSON, with the `as_of` date, so that a replay feeds the engine the same input. The
verdict's matches (policy, decision, countries, grounds with article versions, evidence) are
kept whole, as canonical JSON too; the policy and ground index rows are derived from them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import orjson

from tamis.engine import Decision, Verdict
from tamis.service.verdictforms import match_from_json, match_to_json, verdict_to_json


def canonical_json(value: Any) -> str:
    """Sorted keys, no whitespace, UTF-8 text, shortest round-trip floats: one text per value.

    orjson writes it some fifteen times faster than the json module; integers beyond 64 bits
    (possible in unknown attributes, which listings keep) fall back to the json module.
    """
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    except orjson.JSONEncodeError:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def format_time(moment: datetime) -> str:
    """RFC 3339 in UTC with microseconds, e.g. 2025-11-20T09:12:00.000000Z."""
    utc = moment if moment.tzinfo is UTC else moment.astimezone(UTC)
    return utc.isoformat(timespec="microseconds")[:-6] + "Z"  # "+00:00" → "Z"


@dataclass(frozen=True, slots=True)
class Caller:
    """Who asked for verdicts: `identity` as authenticated (the client certificate's name; the
    peer address without mutual TLS), and `claimed`, what its `tamis-caller` metadata says
    (bounded and printable; empty when it sent none): a hint, never proof."""

    identity: str
    claimed: str = ""


@dataclass(frozen=True, slots=True)
class IndexEntries:
    """The side-table rows of one verdict: its matched policies and cited (instrument, article)."""

    policies: frozenset[str]
    grounds: frozenset[tuple[str, str]]

    @classmethod
    def of(cls, matches: str) -> IndexEntries:
        parsed = orjson.loads(matches)
        return cls(
            frozenset(match["policy"] for match in parsed),
            frozenset((g["instrument"], g["article"]) for match in parsed for g in match["grounds"]),
        )


_NO_ENTRIES = IndexEntries(frozenset(), frozenset())


def request_digest(request: str) -> str:
    """The hex SHA-256 of a canonical request: what the chain covers in its place."""
    return hashlib.sha256(request.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class VerdictRecord:
    """A verdict as handed to the log: all but its id, time, place in a chain and hashes.

    `caller` is the authenticated caller, `claimed_caller` what its `tamis-caller` metadata
    said (None when it sent none). The chain covers `request_hash`, not `request` itself, so the
    request (personal data) can be erased (an empty `request`) and the chain still verifies;
    `request_hash` is None only in records written before it existed, whose hash covers the
    request itself.
    """

    caller: str
    claimed_caller: str | None
    listing_id: str
    seller_id: str | None
    request: str
    request_hash: str | None
    as_of: date
    decision: str
    matches: str
    bundle_digest: str
    #: The index rows, when known without parsing `matches` (derived, so never hashed or compared).
    index: IndexEntries | None = field(default=None, compare=False, repr=False)

    @classmethod
    def of(
        cls, verdict: Verdict, listing: Mapping[str, Any], caller: str, claimed_caller: str = ""
    ) -> VerdictRecord:
        """The record of `verdict` on `listing` (as returned by engine.listing.validate_listing)."""
        seller = listing.get("seller")
        request = canonical_json(listing)
        matches = verdict.matches
        if matches:
            text = canonical_json([match_to_json(match) for match in matches])
            index = IndexEntries(
                frozenset(match.policy for match in matches),
                frozenset((g.instrument, g.article) for match in matches for g in match.grounds),
            )
        else:  # most verdicts: the canonical empty list, and no index rows
            text, index = "[]", _NO_ENTRIES
        return cls(
            caller=caller,
            claimed_caller=claimed_caller or None,
            listing_id=verdict.listing_id,
            seller_id=seller.get("id") if isinstance(seller, Mapping) else None,
            request=request,
            request_hash=request_digest(request),
            as_of=verdict.as_of,
            decision=verdict.decision.value,
            matches=text,
            bundle_digest=verdict.bundle_digest,
            index=index,
        )


@dataclass(frozen=True, slots=True)
class Receipt:
    """Where a verdict landed in the log: handed to the caller with the verdict, so that it can
    later prove the verdict was logged (the record at `writer`/`seq` hashes to `hash`, and a
    signed checkpoint at or after `seq` vouches for that chain)."""

    verdict_id: str
    writer: str
    seq: int
    hash: str

    def to_dict(self) -> dict[str, Any]:
        """The JSON form of the Verdict message's `receipt` (verdict_id is the Verdict's own)."""
        return {"writer": self.writer, "seq": self.seq, "hash": self.hash}


NO_RECEIPT = Receipt("", "", 0, "")


@dataclass(frozen=True, slots=True)
class LoggedVerdict:
    """A stored verdict: its record, id, time, writer chain position and hashes."""

    id: str
    writer: str
    seq: int
    time: datetime
    record: VerdictRecord
    prev_hash: str
    hash: str

    @property
    def receipt(self) -> Receipt:
        return Receipt(self.id, self.writer, self.seq, self.hash)

    @property
    def policies(self) -> list[str]:
        return [match["policy"] for match in orjson.loads(self.record.matches)]

    def verdict(self) -> Verdict:
        """The engine verdict as it was returned to the caller, rebuilt from the record."""
        record = self.record
        return Verdict(
            record.listing_id,
            Decision(record.decision),
            tuple(match_from_json(match) for match in orjson.loads(record.matches)),
            record.bundle_digest,
            record.as_of,
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: field for field the AuditService's LoggedVerdict message."""
        record = self.record
        return {
            "verdict": {
                **verdict_to_json(self.verdict()),
                "verdict_id": self.id,
                "receipt": self.receipt.to_dict(),
            },
            "time": format_time(self.time),
            "caller": record.caller,
            "claimed_caller": record.claimed_caller or "",
            "seller_id": record.seller_id or "",
            "canonical_request": record.request,
            "request_hash": record.request_hash or "",
            "canonical_matches": record.matches,
            "chain": {"writer": self.writer, "seq": self.seq, "prev_hash": self.prev_hash, "hash": self.hash},
        }
