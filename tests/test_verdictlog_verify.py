"""Tamper evidence: verify names the first bad record of a chain, and why, on both backends."""

from __future__ import annotations

import dataclasses

import pytest

from tamis.engine import Bundle, Evaluator
from tamis.service.verdictlog import AuditLog, Database, LogError, LoggedVerdict, VerdictLog
from tamis.service.verdictlog.chain import record_hash
from tests.test_verdictlog_support import records, tamper

pytest_plugins = ["tests.test_verdictlog_support"]


@pytest.fixture
def chain(log: VerdictLog, audit: AuditLog, shipped: Evaluator) -> list[LoggedVerdict]:
    """Six verdicts of one writer, in seq order."""
    ids = log.append(records(shipped)[:6])
    return [verdict for verdict in map(audit.get, ids) if verdict is not None]


def _only_problem(audit: AuditLog) -> tuple[str | None, str]:
    report = audit.verify()
    assert not report.ok
    first = report.problems[0]
    return first.verdict_id, first.reason


def test_an_untouched_log_verifies(log: VerdictLog, audit: AuditLog, chain: list[LoggedVerdict]) -> None:
    """No problems; the report counts verdicts and bundles and gives the writer's head."""
    report = audit.verify()
    assert report.ok, report.problems
    assert report.verdicts == 6
    assert report.bundles == 1
    assert [(head.writer, head.seq, head.hash) for head in report.heads] == [
        (log.writer_id, 6, chain[-1].hash)
    ]


def test_a_changed_record_is_named(audit: AuditLog, log_location: str, chain: list[LoggedVerdict]) -> None:
    """Turning a block into an allow breaks that record's hash."""
    target = chain[2]
    tamper(log_location, ("UPDATE verdicts SET decision = 'allow' WHERE id = ?", (target.id,)))
    assert _only_problem(audit) == (
        target.id,
        "its contents do not match its hash: the record was changed after it was written",
    )


def test_a_changed_record_with_a_forged_hash_breaks_the_link(
    audit: AuditLog, log_location: str, chain: list[LoggedVerdict]
) -> None:
    """A forger who recomputes the changed record's hash is caught by the next record's link."""
    target = chain[2]
    forged = record_hash(
        dataclasses.replace(target.record, decision="allow"),
        verdict_id=target.id,
        writer=target.writer,
        seq=target.seq,
        moment=target.time,
        prev_hash=target.prev_hash,
    )
    tamper(
        log_location, ("UPDATE verdicts SET decision = 'allow', hash = ? WHERE id = ?", (forged, target.id))
    )
    verdict_id, reason = _only_problem(audit)
    assert verdict_id == chain[3].id
    assert reason.startswith("its previous hash is not the hash of seq 3")


def test_a_deleted_record_is_named_by_the_next_one(
    audit: AuditLog, log_location: str, chain: list[LoggedVerdict]
) -> None:
    """Removing seq 3 (and its index rows) leaves a gap that seq 4 reports."""
    gone = chain[2].id
    tamper(
        log_location,
        ("DELETE FROM verdict_policies WHERE verdict_id = ?", (gone,)),
        ("DELETE FROM verdict_grounds WHERE verdict_id = ?", (gone,)),
        ("DELETE FROM verdicts WHERE id = ?", (gone,)),
    )
    assert _only_problem(audit) == (chain[3].id, "the chain jumps from seq 2 to 4: record(s) 3 removed")


def test_a_deleted_last_record_is_caught_by_the_writer_head(
    audit: AuditLog, log_location: str, chain: list[LoggedVerdict]
) -> None:
    """Removing the newest record leaves a chain short of the head its writer recorded."""
    gone = chain[-1].id
    tamper(
        log_location,
        ("DELETE FROM verdict_policies WHERE verdict_id = ?", (gone,)),
        ("DELETE FROM verdict_grounds WHERE verdict_id = ?", (gone,)),
        ("DELETE FROM verdicts WHERE id = ?", (gone,)),
    )
    verdict_id, reason = _only_problem(audit)
    assert verdict_id == chain[-2].id
    assert reason.startswith("the chain ends at seq 5 but the writer recorded a head at seq 6")


def test_swapped_contents_are_caught_at_the_first_swapped_record(
    audit: AuditLog, log_location: str, chain: list[LoggedVerdict]
) -> None:
    """Exchanging two records' contents (hashes included) breaks the earlier one first."""
    first, second = chain[1], chain[4]
    columns = ("listing_id", "seller_id", "request", "decision", "matches", "prev_hash", "hash")
    assignments = ", ".join(f"{column} = ?" for column in columns)
    tamper(
        log_location,
        (f"UPDATE verdicts SET {assignments} WHERE id = ?", (*_values(second), first.id)),
        (f"UPDATE verdicts SET {assignments} WHERE id = ?", (*_values(first), second.id)),
    )
    verdict_id, reason = _only_problem(audit)
    assert verdict_id == first.id
    assert "do not match its hash" in reason


def test_swapped_sequence_numbers_are_caught(
    audit: AuditLog, log_location: str, chain: list[LoggedVerdict]
) -> None:
    """Reordering two records by exchanging their seq numbers is reported at the first position."""
    first, second = chain[1], chain[4]
    tamper(
        log_location,
        ("UPDATE verdicts SET seq = -1 WHERE id = ?", (first.id,)),
        ("UPDATE verdicts SET seq = ? WHERE id = ?", (first.seq, second.id)),
        ("UPDATE verdicts SET seq = ? WHERE id = ?", (second.seq, first.id)),
    )
    verdict_id, reason = _only_problem(audit)
    assert verdict_id == second.id  # now sitting at seq 2
    assert "do not match its hash" in reason


def test_a_removed_index_row_is_caught(
    audit: AuditLog, log_location: str, chain: list[LoggedVerdict]
) -> None:
    """Hiding a verdict from policy queries (deleting its index row) is reported for that verdict."""
    target = chain[0]
    tamper(log_location, ("DELETE FROM verdict_policies WHERE verdict_id = ?", (target.id,)))
    verdict_id, reason = _only_problem(audit)
    assert verdict_id == target.id
    assert reason.startswith("its policy or ground index rows differ from its matches")


def test_changed_bundle_sources_are_caught(
    audit: AuditLog, log_location: str, chain: list[LoggedVerdict], shipped_bundle: Bundle
) -> None:
    """Editing a stored policy file would make replays lie: the bundle no longer hashes to its digest."""
    path = sorted(shipped_bundle.sources)[0]
    tamper(
        log_location,
        ("UPDATE bundle_sources SET content = ? WHERE path = ?", (b"id: forged\n", path)),
    )
    verdict_id, reason = _only_problem(audit)
    assert verdict_id is None
    assert reason == f"bundle {shipped_bundle.digest}: its stored sources do not hash to its digest"


def test_each_broken_chain_is_reported_once(
    audit: AuditLog,
    log_location: str,
    chain: list[LoggedVerdict],
    shipped: Evaluator,
    shipped_bundle: Bundle,
) -> None:
    """Two writers, both tampered with: one problem per chain, at each chain's first bad record."""
    other = VerdictLog(audit.database, "other")
    other.store_bundle(shipped_bundle)
    theirs = other.append(records(shipped)[:4])
    other.close()
    tamper(
        log_location,
        ("UPDATE verdicts SET caller = 'someone else' WHERE id = ?", (chain[1].id,)),
        ("UPDATE verdicts SET caller = 'someone else' WHERE id = ?", (chain[3].id,)),
        ("UPDATE verdicts SET listing_id = 'x' WHERE id = ?", (theirs[2],)),
    )
    report = audit.verify()
    assert sorted(problem.verdict_id or "" for problem in report.problems) == sorted([chain[1].id, theirs[2]])


def test_the_log_refuses_updates_and_deletes(log_database: Database, chain: list[LoggedVerdict]) -> None:
    """Append-only guards in the database stop ordinary UPDATE and DELETE statements."""
    session = log_database.connect()
    try:
        for sql in (
            "UPDATE verdicts SET decision = 'allow'",
            "DELETE FROM verdicts",
            "DELETE FROM bundle_sources",
        ):
            with pytest.raises(LogError, match="append-only"):
                session.execute(sql)
    finally:
        session.close()


def _values(verdict: LoggedVerdict) -> tuple[object, ...]:
    record = verdict.record
    return (
        record.listing_id,
        record.seller_id,
        record.request,
        record.decision,
        record.matches,
        verdict.prev_hash,
        verdict.hash,
    )
