"""The hash chain: each writer's verdicts link to their predecessor by hash.

A record's hash is SHA-256 over a format tag and *every* stored field, in a fixed order, each
as its UTF-8 bytes behind an 8-byte length (a null as one 0xff byte): id, writer, seq, time
(RFC 3339, UTC, microseconds), caller, listing and seller ids, request, as_of, decision,
matches, bundle digest and the previous record's hash. Length prefixes make the encoding
unambiguous without escaping the long JSON fields. Changing any field, dropping a record or
moving one changes a hash that a later record (or the writer's recorded head) vouches for. The
first record of a chain has GENESIS_HASH as its previous hash.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from service.verdictlog.records import VerdictRecord, format_time

#: Changes whenever the hashed form changes; verifiers must know every tag they accept.
CHAIN_FORMAT = b"tamis-verdict-v1"
GENESIS_HASH = "0" * 64
_NULL = b"\xff"


def record_hash(
    record: VerdictRecord, *, verdict_id: str, writer: str, seq: int, moment: datetime, prev_hash: str
) -> str:
    """The hex SHA-256 a stored row must carry."""
    parts = [CHAIN_FORMAT]
    for value in (
        verdict_id,
        writer,
        str(seq),
        format_time(moment),
        record.caller,
        record.listing_id,
        record.seller_id,
        record.request,
        record.as_of.isoformat(),
        record.decision,
        record.matches,
        record.bundle_digest,
        prev_hash,
    ):
        if value is None:
            parts.append(_NULL)
        else:
            encoded = value.encode()
            parts += (len(encoded).to_bytes(8, "big"), encoded)
    return hashlib.sha256(b"".join(parts)).hexdigest()
