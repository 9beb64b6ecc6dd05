"""Audit queries: each filter, combined filters, time ranges, keyset paging, newest first."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from tamis.engine import Evaluator, load_bundle
from tamis.service.verdictlog import AuditLog, VerdictLog, VerdictQuery, VerdictRecord, open_database
from tamis.service.verdictlog.ids import id_time
from tamis.service.verdictlog.query import build_sql as query_sql
from tests.conftest import INSTRUMENT, PackFiles, base_pack, policy, samples
from tests.test_verdictlog_support import records, relabel

pytest_plugins = ["tests.test_verdictlog_support"]

Logged = list[tuple[str, VerdictRecord]]


@pytest.fixture
def logged(log: VerdictLog, shipped: Evaluator) -> Logged:
    """The samples twice over, then a few relabelled copies: ids paired with their records."""
    extra = [relabel(listing, f"x-{index}", "sel-x") for index, listing in enumerate(samples()[:5])]
    written = records(shipped) + records(shipped) + records(shipped, extra)
    ids = log.append(written[:12]) + log.append(written[12:20]) + log.append(written[20:])
    return list(zip(ids, written, strict=True))


def _newest_first(logged: Logged, keep: Callable[[VerdictRecord], bool]) -> list[str]:
    return sorted((verdict_id for verdict_id, record in logged if keep(record)), reverse=True)


def _policies(record: VerdictRecord) -> set[str]:
    return {match["policy"] for match in json.loads(record.matches)}


def _grounds(record: VerdictRecord) -> set[tuple[str, str]]:
    return {(g["instrument"], g["article"]) for m in json.loads(record.matches) for g in m["grounds"]}


def _all_ids(audit: AuditLog, query: VerdictQuery, limit: int = 1000) -> Iterator[str]:
    after = None
    while True:
        page = audit.query(query, limit=limit, after=after)
        yield from (verdict.id for verdict in page.verdicts)
        if page.next_cursor is None:
            return
        after = page.next_cursor


FILTERS: dict[str, tuple[VerdictQuery, Callable[[VerdictRecord], bool]]] = {
    "listing": (VerdictQuery(listing_id="s-003"), lambda r: r.listing_id == "s-003"),
    "seller": (VerdictQuery(seller_id="sel-x"), lambda r: r.seller_id == "sel-x"),
    "decision": (VerdictQuery(decision="flag"), lambda r: r.decision == "flag"),
    "policy": (VerdictQuery(policy="eu.tpd.17.snus"), lambda r: "eu.tpd.17.snus" in _policies(r)),
    "instrument": (
        VerdictQuery(instrument="celex:32014L0040"),
        lambda r: any(instrument == "celex:32014L0040" for instrument, _ in _grounds(r)),
    ),
    "article": (
        VerdictQuery(instrument="celex:32014L0040", article="20(3)(b)"),
        lambda r: ("celex:32014L0040", "20(3)(b)") in _grounds(r),
    ),
    "seller and policy": (
        VerdictQuery(seller_id="sel-x", policy="eu.dsa.30-31.trader-traceability"),
        lambda r: r.seller_id == "sel-x" and "eu.dsa.30-31.trader-traceability" in _policies(r),
    ),
    "seller and decision": (
        VerdictQuery(seller_id="sel-x", decision="flag"),
        lambda r: r.seller_id == "sel-x" and r.decision == "flag",
    ),
    "policy and decision": (
        VerdictQuery(policy="eu.dsa.30-31.trader-traceability", decision="block"),
        lambda r: "eu.dsa.30-31.trader-traceability" in _policies(r) and r.decision == "block",
    ),
    "article and listing": (
        VerdictQuery(listing_id="s-006", instrument="celex:32014L0040", article="20(3)(b)"),
        lambda r: r.listing_id == "s-006",
    ),
    "policy and instrument": (
        VerdictQuery(policy="eu.dsa.30-31.trader-traceability", instrument="celex:32009R1223"),
        lambda r: ("celex:32009R1223", "14(1)(a) Annex II") in _grounds(r),
    ),
    "instrument and decision": (
        VerdictQuery(instrument="celex:32022R2065", decision="flag"),
        lambda r: r.decision == "flag",
    ),
}


@pytest.mark.parametrize("name", FILTERS)
def test_a_filter_finds_exactly_its_verdicts_newest_first(audit: AuditLog, logged: Logged, name: str) -> None:
    """Each filter (and combination) returns every matching verdict and no other, newest first."""
    query, keep = FILTERS[name]
    expected = _newest_first(logged, keep)
    assert expected  # the data exercises the filter
    assert list(_all_ids(audit, query)) == expected


def test_no_filter_lists_the_whole_log_newest_first(audit: AuditLog, logged: Logged) -> None:
    """An empty query pages through every verdict, newest first."""
    assert list(_all_ids(audit, VerdictQuery())) == _newest_first(logged, lambda _: True)


def test_pages_cover_every_verdict_once(audit: AuditLog, logged: Logged) -> None:
    """Walking small pages by cursor returns each verdict exactly once; the last page has no cursor."""
    query = VerdictQuery(policy="eu.dsa.30-31.trader-traceability")
    paged = list(_all_ids(audit, query, limit=4))
    assert paged == _newest_first(logged, lambda r: "eu.dsa.30-31.trader-traceability" in _policies(r))
    first = audit.query(query, limit=4)
    assert len(first.verdicts) == 4
    assert first.next_cursor == first.verdicts[-1].id


def test_a_full_last_page_has_no_cursor(audit: AuditLog, logged: Logged) -> None:
    """When the rows end exactly at a page boundary, no cursor promises a next page."""
    count = len(_newest_first(logged, lambda r: r.listing_id == "s-003"))
    page = audit.query(VerdictQuery(listing_id="s-003"), limit=count)
    assert len(page.verdicts) == count
    assert page.next_cursor is None


def test_a_time_range_selects_by_when_verdicts_were_logged(
    log: VerdictLog, audit: AuditLog, shipped: Evaluator
) -> None:
    """`since` keeps verdicts logged at or after it, `until` those before it."""
    earlier = log.append(records(shipped)[:4])
    time.sleep(0.003)  # let the clock pass into a later millisecond
    later = log.append(records(shipped)[4:8])
    boundary = id_time(later[0])
    assert list(_all_ids(audit, VerdictQuery(since=boundary))) == sorted(later, reverse=True)
    assert list(_all_ids(audit, VerdictQuery(until=boundary))) == sorted(earlier, reverse=True)
    window = VerdictQuery(since=id_time(earlier[0]), until=boundary + timedelta(hours=1), decision="block")
    expected = [
        i for i, r in zip(earlier + later, records(shipped)[:8], strict=True) if r.decision == "block"
    ]
    assert list(_all_ids(audit, window)) == sorted(expected, reverse=True)


def test_an_instrument_filter_lists_a_verdict_once_whatever_it_cites(
    log: VerdictLog, audit: AuditLog, write_pack: Callable[[PackFiles], Path]
) -> None:
    """A verdict citing two articles of one instrument appears once under that instrument."""
    both = [
        {"instrument": INSTRUMENT["instrument"], "article": "1"},
        {"instrument": INSTRUMENT["instrument"], "article": "2"},
    ]
    bundle = load_bundle(write_pack(base_pack(policy(grounds=both))))
    evaluator = Evaluator(bundle)
    try:
        log.store_bundle(bundle)
        widgets = [{"id": f"w-{n}", "title": "widget", "ship_to": ["FR"]} for n in range(3)]
        ids = log.append(records(evaluator, widgets))
    finally:
        evaluator.close()
    found = list(_all_ids(audit, VerdictQuery(instrument=str(INSTRUMENT["instrument"])), limit=2))
    assert found == sorted(ids, reverse=True)


def test_get_returns_one_verdict_or_none(audit: AuditLog, logged: Logged) -> None:
    """A logged id gives its verdict; an id never logged gives None."""
    verdict_id, record = logged[5]
    found = audit.get(verdict_id)
    assert found is not None
    assert found.record == record
    assert audit.get("01890000-0000-7000-8000-000000000000") is None


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: VerdictQuery(decision="maybe"), "decision must be one of"),
        (lambda: VerdictQuery(article="17"), "needs its instrument"),
    ],
)
def test_bad_filters_are_refused(make: Callable[[], VerdictQuery], message: str) -> None:
    """An unknown decision, or an article without its instrument, is a clear error."""
    with pytest.raises(ValueError, match=message):
        make()


def test_bad_cursors_limits_and_ids_are_refused(audit: AuditLog) -> None:
    """A cursor or id that is not a verdict id, or a limit out of range, is a clear error."""
    with pytest.raises(ValueError, match="not a cursor"):
        audit.query(VerdictQuery(), after="s-001")
    with pytest.raises(ValueError, match="limit"):
        audit.query(VerdictQuery(), limit=0)
    with pytest.raises(ValueError, match="not a verdict id"):
        audit.get("'; DROP TABLE verdicts; --")


@pytest.mark.parametrize("name", FILTERS)
def test_sqlite_plans_each_query_as_index_range_scans(tmp_path: Path, name: str) -> None:
    """Every filter is answered by index searches that stop after a page: no table scan, no sort
    (SQLite plans without statistics, so the plan must not depend on them)."""
    database = open_database(str(tmp_path / "plans.sqlite3"))
    VerdictLog(database).close()  # creates the schema
    session = database.connect()
    query, _ = FILTERS[name]
    sql, params = query_sql(session, query, 51, "01890000-0000-7000-8000-000000000000")
    plan = [row[3] for row in session.all(f"EXPLAIN QUERY PLAN {sql}", params)]
    session.close()
    assert all(step.startswith(("SEARCH", "LIST SUBQUERY", "CORRELATED SCALAR SUBQUERY")) for step in plan), (
        plan
    )
    driver = next(step for step in plan if "SUBQUERY" not in step and "(id=?)" not in step)
    assert "decision" not in driver or name == "decision"
