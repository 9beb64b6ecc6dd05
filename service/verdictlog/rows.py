"""Verdict rows in and out of SQL: the column list and conversions shared by writer and reader."""

from __future__ import annotations

from typing import Any

from tamis.service.verdictlog.records import LoggedVerdict, VerdictRecord
from tamis.service.verdictlog.store import Dialect, Row

COLUMNS = (
    "id",
    "writer_id",
    "seq",
    "logged_at",
    "caller",
    "claimed_caller",
    "listing_id",
    "seller_id",
    "request",
    "request_hash",
    "as_of",
    "decision",
    "matches",
    "bundle_digest",
    "prev_hash",
    "hash",
)


def select_columns(alias: str = "v") -> str:
    return ", ".join(f"{alias}.{column}" for column in COLUMNS)


def to_row(
    dialect: Dialect,
    record: VerdictRecord,
    *,
    verdict_id: Any,
    writer: Any,
    seq: int,
    time: Any,
    prev_hash: str,
    own_hash: str,
) -> tuple[Any, ...]:
    """The row of a new verdict; ids and time already converted by the dialect (id_param,
    time_param), which the writer does once per group or per verdict, not once per use."""
    return (
        verdict_id,
        writer,
        seq,
        time,
        record.caller,
        record.claimed_caller,
        record.listing_id,
        record.seller_id,
        record.request,
        record.request_hash,
        dialect.date_param(record.as_of),
        record.decision,
        record.matches,
        record.bundle_digest,
        prev_hash,
        own_hash,
    )


def from_row(row: Row, dialect: Dialect) -> LoggedVerdict:
    (
        verdict_id,
        writer,
        seq,
        logged_at,
        caller,
        claimed_caller,
        listing_id,
        seller_id,
        request,
        request_hash,
        as_of,
        decision,
        matches,
        bundle_digest,
        prev_hash,
        own_hash,
    ) = row
    record = VerdictRecord(
        caller=caller,
        claimed_caller=claimed_caller,
        listing_id=listing_id,
        seller_id=seller_id,
        request=request,
        request_hash=request_hash,
        as_of=dialect.date_value(as_of),
        decision=decision,
        matches=matches,
        bundle_digest=bundle_digest,
    )
    return LoggedVerdict(
        id=dialect.id_value(verdict_id),
        writer=dialect.id_value(writer),
        seq=int(seq),
        time=dialect.time_value(logged_at),
        record=record,
        prev_hash=prev_hash,
        hash=own_hash,
    )
