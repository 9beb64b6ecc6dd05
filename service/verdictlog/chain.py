"""The hash chain: each writer's verdicts link to their predecessor by hash.

A record's hash is SHA-256 over a format tag and the canonical JSON of *every* stored field:
id, writer, seq, time, caller, listing and seller ids, request, as_of, decision, matches,
bundle digest and the previous record's hash. Changing any field, dropping a record or moving
one changes a hash that a later record (or the writer's recorded head) vouches for. The first
record of a chain has GENESIS_HASH as its previous hash.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from service.verdictlog.records import VerdictRecord, canonical_json, format_time

#: Changes whenever the hashed form changes; verifiers must know every tag they accept.
CHAIN_FORMAT = "tamis-verdict-v1"
GENESIS_HASH = "0" * 64


def record_hash(
    record: VerdictRecord, *, verdict_id: str, writer: str, seq: int, moment: datetime, prev_hash: str
) -> str:
    """The hex SHA-256 a stored row must carry."""
    fields = {
        "as_of": record.as_of.isoformat(),
        "bundle_digest": record.bundle_digest,
        "caller": record.caller,
        "decision": record.decision,
        "id": verdict_id,
        "listing_id": record.listing_id,
        "matches": record.matches,
        "prev_hash": prev_hash,
        "request": record.request,
        "seller_id": record.seller_id,
        "seq": seq,
        "time": format_time(moment),
        "writer": writer,
    }
    return hashlib.sha256(f"{CHAIN_FORMAT}\n{canonical_json(fields)}".encode()).hexdigest()
