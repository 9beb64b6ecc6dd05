"""Audit queries: filters, newest first, keyset paging.

Each query is planned to be one backward range scan over an index that ends with the verdict
id, stopped after a page: by listing or seller (verdict indexes, the other filters checked on
the few rows found), else by policy or ground (side-table indexes), else by decision or id
alone. Time bounds are id bounds (UUIDv7), so they narrow the same scan. The cursor is the last
id of a page; the next page is everything older.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tamis.engine import quote
from tamis.service.verdictlog.ids import is_verdict_id, lowest_id_at
from tamis.service.verdictlog.records import LoggedVerdict
from tamis.service.verdictlog.rows import from_row, select_columns
from tamis.service.verdictlog.store import Session

DECISIONS = ("allow", "flag", "block")
MAX_LIMIT = 1000


@dataclass(frozen=True)
class VerdictQuery:
    """What to look for; every filter given must hold. `since` is inclusive, `until` exclusive."""

    listing_id: str | None = None
    seller_id: str | None = None
    decision: str | None = None
    policy: str | None = None
    instrument: str | None = None
    article: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def __post_init__(self) -> None:
        if self.decision is not None and self.decision not in DECISIONS:
            raise ValueError(f"decision must be one of {', '.join(DECISIONS)}, not {quote(self.decision)}")
        if self.article is not None and self.instrument is None:
            raise ValueError("an article filter needs its instrument")
        for name in ("since", "until"):
            moment = getattr(self, name)
            if moment is not None and moment.tzinfo is None:
                raise ValueError(f"{name} must carry a time zone")


@dataclass(frozen=True)
class Page:
    """Verdicts newest first; `next_cursor` (pass it as `after`) when older ones remain."""

    verdicts: list[LoggedVerdict]
    next_cursor: str | None


def check_page(limit: int, after: str | None) -> None:
    """Raise ValueError for a page size or cursor no query could take."""
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be between 1 and {MAX_LIMIT}")
    if after is not None and not is_verdict_id(after):
        raise ValueError(f"not a cursor: {quote(after)} (use the next_cursor of a previous page)")


def run_query(session: Session, query: VerdictQuery, limit: int = 50, after: str | None = None) -> Page:
    """One page of verdicts (limit and cursor checked by check_page)."""
    sql, params = build_sql(session, query, limit + 1, after)
    rows = [from_row(row, session.dialect) for row in session.all(sql, params)]
    if len(rows) > limit:
        return Page(rows[:limit], rows[limit - 1].id)
    return Page(rows, None)


def build_sql(session: Session, query: VerdictQuery, fetch: int, after: str | None) -> tuple[str, list[Any]]:
    """The SQL and parameters of one page: ids found by the driving index, then their rows."""
    by_verdict = {
        column: value
        for column, value in (
            ("listing_id", query.listing_id),
            ("seller_id", query.seller_id),
            ("decision", query.decision),
        )
        if value is not None
    }
    selective = query.listing_id is not None or query.seller_id is not None
    by_policy = not selective and query.policy is not None
    by_ground = not selective and not by_policy and query.instrument is not None
    key = "d.verdict_id" if by_policy or by_ground else "v.id"
    source = "verdict_policies d" if by_policy else "verdict_grounds d" if by_ground else "verdicts v"
    if by_verdict and key != "v.id":
        source += " JOIN verdicts v ON v.id = d.verdict_id"
    # the decision is a poor index to drive by when another filter is given: `|| ''` keeps
    # planners (SQLite's above all, which may lack statistics) from picking it
    conditions = [
        f"v.{column} || '' = ?" if column == "decision" and len(by_verdict) > 1 else f"v.{column} = ?"
        for column in by_verdict
    ]
    params: list[Any] = list(by_verdict.values())
    if query.policy is not None:
        policy = "d.policy = ?" if by_policy else "p.policy = ?"
        conditions.append(
            policy
            if by_policy
            else f"EXISTS (SELECT 1 FROM verdict_policies p WHERE p.verdict_id = {key} AND {policy})"
        )
        params.append(query.policy)
    if query.instrument is not None:
        alias = "d" if by_ground else "g"
        ground = f"{alias}.instrument = ?" + (
            f" AND {alias}.article = ?" if query.article is not None else ""
        )
        conditions.append(
            ground
            if by_ground
            else f"EXISTS (SELECT 1 FROM verdict_grounds g WHERE g.verdict_id = {key} AND {ground})"
        )
        params.extend(value for value in (query.instrument, query.article) if value is not None)
    for operator, bound in (
        (">=", lowest_id_at(query.since) if query.since else None),
        ("<", lowest_id_at(query.until) if query.until else None),
        ("<", after),
    ):
        if bound is not None:
            conditions.append(f"{key} {operator} ?")
            params.append(session.dialect.id_param(bound))
    # a verdict may cite several articles of one instrument: only then can an id repeat
    distinct = "DISTINCT " if by_ground and query.article is None else ""
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    inner = f"SELECT {distinct}{key} FROM {source}{where} ORDER BY {key} DESC LIMIT ?"
    params.append(fetch)
    return f"SELECT {select_columns()} FROM verdicts v WHERE v.id IN ({inner}) ORDER BY v.id DESC", params
