"""Erasing listings (personal data) from the log without breaking its chains, and recording it.

A listing's description may hold a name, an address, a phone number; the seller may ask for
erasure, and the log must not keep them longer than its retention period. The chain (format v2)
covers each request by its SHA-256, so erasing a request (setting it to '') leaves every hash
valid, and the stored hash still proves what the request was to anyone who kept a copy. What
stays: ids, times, caller, listing and seller ids, decision, matched policies, grounds and
evidence (the matched words), the bundle: what proves the decision. Records of chain format v1
(no request hash) cannot be erased. Each erasure is recorded in the append-only `erasures`
table, and `verify` reports any erased request that no recorded erasure explains. The database
guards let this one UPDATE through and no other; the server's runtime role may not make it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tamis.service.verdictlog.ids import IdClock
from tamis.service.verdictlog.store import Dialect, Row, Session

_ERASABLE = "request_hash IS NOT NULL AND request <> ''"


@dataclass(frozen=True)
class Erasure:
    """One recorded erasure: of a seller's listings, or of every listing logged before a time."""

    id: str
    erased_at: datetime
    reason: str
    seller_id: str | None
    before: datetime | None
    verdicts: int

    def explains(self, seller_id: str | None, logged_at: datetime) -> bool:
        """Whether this erasure covers a verdict of `seller_id` logged at `logged_at`."""
        if logged_at >= self.erased_at:
            return False
        if self.seller_id is not None:
            return seller_id == self.seller_id
        return self.before is not None and logged_at < self.before


def erase(session: Session, *, seller_id: str | None = None, before: datetime | None = None) -> Erasure:
    """Erase the requests of `seller_id`'s verdicts, or of every verdict logged before `before`."""
    if (seller_id is None) == (before is None):
        raise ValueError("erase either a seller's listings or those logged before a time")
    dialect = session.dialect
    erasure_id, now = IdClock().next()
    if seller_id is not None:
        where, params, reason = f"{_ERASABLE} AND seller_id = ?", [seller_id], "seller"
    else:
        assert before is not None
        where, params, reason = f"{_ERASABLE} AND logged_at < ?", [dialect.time_param(before)], "retention"
    with session.transaction():
        row = session.one(f"SELECT count(*) FROM verdicts WHERE {where}", params)
        count = int(row[0]) if row else 0
        session.execute(f"UPDATE verdicts SET request = '' WHERE {where}", params)
        session.execute(
            "INSERT INTO erasures (id, erased_at, reason, seller_id, before_time, verdicts) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (
                dialect.id_param(erasure_id),
                dialect.time_param(now),
                reason,
                seller_id,
                None if before is None else dialect.time_param(before),
                count,
            ),
        )
    return Erasure(erasure_id, now, reason, seller_id, before, count)


def recorded_erasures(session: Session) -> list[Erasure]:
    dialect = session.dialect
    rows = session.all(
        "SELECT id, erased_at, reason, seller_id, before_time, verdicts FROM erasures ORDER BY id"
    )
    return [_erasure(row, dialect) for row in rows]


def _erasure(row: Row, dialect: Dialect) -> Erasure:
    erasure_id, erased_at, reason, seller_id, before, verdicts = row
    return Erasure(
        dialect.id_value(erasure_id),
        dialect.time_value(erased_at),
        reason,
        seller_id,
        None if before is None else dialect.time_value(before),
        int(verdicts),
    )
