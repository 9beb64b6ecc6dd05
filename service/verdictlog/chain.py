"""The hash chain: each writer's verdicts link to their predecessor by hash.

A record's hash is SHA-256 over a format tag and *every* stored field, in a fixed order, each
as its UTF-8 bytes behind an 8-byte length (a null as one 0xff byte). Format v2: id, writer,
seq, time (RFC 3339, UTC, microseconds), caller, claimed caller, listing and seller ids, the
request's SHA-256 (hex), as_of, decision, matches, bundle digest and the previous record's hash.
Covering the request's hash rather than the request lets the request be erased (personal
data) while the chain still proves everything else and that the request was once this one.
Records written before v2 (no request hash) keep the v1 form: the request itself and no claimed
caller. Length prefixes make the encoding unambiguous without escaping the long JSON fields.
Changing any field, dropping a record or moving one changes a hash that a later record (or the
writer's recorded head, or a signed checkpoint) vouches for. The first record of a chain has
GENESIS_HASH as its previous hash.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from tamis.service.verdictlog.records import VerdictRecord, format_time

#: Changes whenever the hashed form changes; verifiers must know every tag they accept.
CHAIN_FORMAT = b"tamis-verdict-v2"
CHAIN_FORMAT_V1 = b"tamis-verdict-v1"
GENESIS_HASH = "0" * 64
_NULL = b"\xff"


def record_hash(
    record: VerdictRecord, *, verdict_id: str, writer: str, seq: int, moment: datetime, prev_hash: str
) -> str:
    """The hex SHA-256 a stored row must carry."""
    return chain_hash(
        record, verdict_id=verdict_id, writer=writer, seq=seq, time=format_time(moment), prev_hash=prev_hash
    )


def chain_hash(
    record: VerdictRecord, *, verdict_id: str, writer: str, seq: int, time: str, prev_hash: str
) -> str:
    """record_hash with the time already in its RFC 3339 form (the writer formats it once per
    group commit rather than once per verdict)."""
    if record.request_hash is None:
        return _digest(
            CHAIN_FORMAT_V1,
            (
                verdict_id,
                writer,
                str(seq),
                time,
                record.caller,
                record.listing_id,
                record.seller_id,
                record.request,
                record.as_of.isoformat(),
                record.decision,
                record.matches,
                record.bundle_digest,
                prev_hash,
            ),
        )
    return _digest(
        CHAIN_FORMAT,
        (
            verdict_id,
            writer,
            str(seq),
            time,
            record.caller,
            record.claimed_caller,
            record.listing_id,
            record.seller_id,
            record.request_hash,
            record.as_of.isoformat(),
            record.decision,
            record.matches,
            record.bundle_digest,
            prev_hash,
        ),
    )


#: The 8-byte length prefixes of short fields, made once (most fields are ids, hashes, codes).
_LENGTHS = tuple(length.to_bytes(8, "big") for length in range(256))


def _digest(tag: bytes, values: tuple[str | None, ...]) -> str:
    parts = [tag]
    append = parts.append
    for value in values:
        if value is None:
            append(_NULL)
        else:
            encoded = value.encode()
            length = len(encoded)
            append(_LENGTHS[length] if length < 256 else length.to_bytes(8, "big"))
            append(encoded)
    return hashlib.sha256(b"".join(parts)).hexdigest()
