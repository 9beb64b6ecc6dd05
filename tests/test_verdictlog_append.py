"""Appending: durable ids in order, one chain per writer, bundles once, group commits, failures."""

from __future__ import annotations

import json
import multiprocessing
import multiprocessing.synchronize
import secrets
import threading
import time
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from tamis.engine import Bundle, Evaluator, load_bundle
from tamis.service.verdictlog import AuditLog, Database, LogError, LogUnavailable, VerdictLog, open_database
from tamis.service.verdictlog.chain import GENESIS_HASH
from tamis.service.verdictlog.postgres import PostgresDatabase
from tamis.service.verdictlog.sqlite import SqliteDatabase
from tests.conftest import POLICIES, samples
from tests.test_verdictlog_support import (
    AS_OF,
    TcpProxy,
    eventually,
    is_postgres,
    pg_schema,
    records,
    writes_blocked,
)

pytest_plugins = ["tests.test_verdictlog_support"]


def test_append_returns_ids_in_order_and_stores_each_record(
    log: VerdictLog, audit: AuditLog, shipped: Evaluator
) -> None:
    """Every record comes back by its id, field for field, and ids follow the records' order."""
    written = records(shipped)
    ids = log.append(written)
    assert len(ids) == len(written)
    assert ids == sorted(ids)
    for verdict_id, record in zip(ids, written, strict=True):
        logged = audit.get(verdict_id)
        assert logged is not None
        assert logged.record == record


def test_the_record_is_the_canonical_validated_request(
    log: VerdictLog, audit: AuditLog, shipped: Evaluator
) -> None:
    """The stored request is the validated listing as sorted, whitespace-free JSON; as_of kept."""
    [verdict_id] = log.append(records(shipped)[:1])
    logged = audit.get(verdict_id)
    assert logged is not None
    request = logged.record.request
    assert request == json.dumps(
        json.loads(request), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    assert json.loads(request)["id"] == logged.record.listing_id
    assert logged.to_dict()["verdict"]["as_of"] == "2025-11-20"


def test_a_writer_chains_its_records(log: VerdictLog, audit: AuditLog, shipped: Evaluator) -> None:
    """Seq counts from 1, the first previous hash is the genesis, each links to the last."""
    ids = log.append(records(shipped)[:3]) + log.append(records(shipped)[3:5])
    chain = [audit.get(verdict_id) for verdict_id in ids]
    assert [logged.seq for logged in chain if logged] == [1, 2, 3, 4, 5]
    previous = GENESIS_HASH
    for logged in chain:
        assert logged is not None
        assert logged.prev_hash == previous
        previous = logged.hash
    assert log.head == (5, previous)


def test_writers_keep_separate_chains(
    log_database: Database, log: VerdictLog, audit: AuditLog, shipped: Evaluator, shipped_bundle: Bundle
) -> None:
    """Two writers on one log (two server processes) each have a chain from seq 1; both verify."""
    other = VerdictLog(log_database, "other")
    other.store_bundle(shipped_bundle)
    try:
        mine = log.append(records(shipped)[:2])
        theirs = other.append(records(shipped)[:3])
    finally:
        other.close()
    assert [audit.get(i).seq for i in theirs] == [1, 2, 3]  # type: ignore[union-attr]
    assert {audit.get(i).writer for i in mine} == {log.writer_id}  # type: ignore[union-attr]
    report = audit.verify()
    assert report.ok, report.problems
    assert {head.writer: head.seq for head in report.heads} == {log.writer_id: 2, other.writer_id: 3}


def test_a_bundle_is_stored_once_with_its_sources(
    log_database: Database, log: VerdictLog, audit: AuditLog, shipped_bundle: Bundle
) -> None:
    """Storing the same bundle again, even from another writer, keeps one copy of its sources."""
    log.store_bundle(shipped_bundle)
    other = VerdictLog(log_database, "other")
    other.store_bundle(shipped_bundle)
    other.close()
    assert audit.bundle_sources(shipped_bundle.digest) == shipped_bundle.sources
    assert audit.verify().bundles == 1


def test_append_refuses_a_verdict_whose_bundle_is_not_stored(
    log_database: Database, audit: AuditLog, shipped: Evaluator
) -> None:
    """Without its bundle a verdict could not be replayed: the append fails and writes nothing."""
    writer = VerdictLog(log_database)
    try:
        with pytest.raises(LogError, match="store_bundle"):
            writer.append(records(shipped)[:1])
    finally:
        writer.close()
    assert audit.verify().verdicts == 0


def test_an_empty_append_writes_nothing(log: VerdictLog, audit: AuditLog) -> None:
    """Appending no records returns no ids and leaves the chain where it was."""
    assert log.append([]) == []
    assert log.head == (0, GENESIS_HASH)
    assert audit.verify().verdicts == 0


def test_appended_rows_are_committed_when_append_returns(
    log: VerdictLog, log_location: str, shipped: Evaluator
) -> None:
    """A fresh connection sees every row as soon as append returns: nothing waits in a buffer."""
    ids = log.append(records(shipped))
    reader = AuditLog(open_database(log_location))
    try:
        assert all(reader.get(verdict_id) is not None for verdict_id in ids)
    finally:
        reader.close()


def test_commits_wait_for_the_disk(log_location: str) -> None:
    """SQLite runs WAL with synchronous=FULL; PostgreSQL sessions run synchronous_commit=on."""
    if is_postgres(log_location):
        relaxed = make_conninfo(
            log_location, options=conninfo_to_dict(log_location)["options"] + " -csynchronous_commit=off"
        )
        session = PostgresDatabase(relaxed).connect()  # even when the server or DSN says otherwise
        assert session.all("SHOW synchronous_commit") == [("on",)]
    else:
        session = open_database(log_location).connect()
        assert session.all("PRAGMA journal_mode") == [("wal",)]
        assert session.all("PRAGMA synchronous") == [(2,)]  # FULL
    session.close()


def test_a_sqlite_log_leaves_fsync_to_checkpoints_only_when_asked(
    tmp_path: Path, shipped: Evaluator, shipped_bundle: Bundle
) -> None:
    """log_sync normal is the operator's choice for SQLite alone: its commits skip the fsync
    (synchronous=NORMAL) and its verdicts chain and verify as ever."""
    location = f"sqlite:{tmp_path / 'verdicts.sqlite3'}"
    session = open_database(location, sync="normal").connect()
    assert session.all("PRAGMA synchronous") == [(1,)]  # NORMAL
    session.close()
    log = VerdictLog(open_database(location, sync="normal"))
    log.store_bundle(shipped_bundle)
    ids = log.append(records(shipped))
    log.close()
    audit = AuditLog(open_database(location, create=False))
    report = audit.verify()
    assert report.ok, report.problems
    assert [head.seq for head in report.heads] == [len(ids)]
    audit.close()
    with pytest.raises(ValueError, match="only a SQLite verdict log"):
        open_database("postgresql://tamis@db.example/tamis", sync="normal")
    with pytest.raises(ValueError, match="expected one of full, normal"):
        open_database(location, sync="off")


def test_sqlite_checkpoints_after_commits_off_the_committing_thread(
    tmp_path: Path, shipped: Evaluator, shipped_bundle: Bundle
) -> None:
    """Committed pages reach the database file without another commit and far below SQLite's
    automatic checkpoint (1,000 pages), so no caller's commit carries one; closing the log ends
    the checkpoint thread."""
    path = tmp_path / "verdicts.sqlite3"
    log = VerdictLog(SqliteDatabase(path))
    log.store_bundle(shipped_bundle)
    before = path.stat().st_size
    log.append(records(shipped)[:3])
    deadline = time.monotonic() + 60
    while path.stat().st_size == before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert path.stat().st_size > before
    log.close()
    assert not [thread for thread in threading.enumerate() if thread.name == "tamis-sqlite-checkpoint"]


def test_concurrent_appends_share_commits(
    log: VerdictLog, log_location: str, audit: AuditLog, shipped: Evaluator
) -> None:
    """Callers arriving while a commit is under way are all written by the next one."""
    batch = records(shipped)[:2]
    results: list[list[str]] = []
    callers = 6
    before = log.commits
    with writes_blocked(log_location):
        threads = [threading.Thread(target=lambda: results.append(log.append(batch))) for _ in range(callers)]
        for thread in threads:
            thread.start()
        while log.pending < callers:  # one leads a commit stuck on the lock, the others queue behind
            threading.Event().wait(0.005)
    for thread in threads:
        thread.join()
    assert log.commits - before <= 2
    ids = [verdict_id for result in results for verdict_id in result]
    assert len(set(ids)) == callers * len(batch)
    report = audit.verify()
    assert report.ok, report.problems
    assert report.verdicts == callers * len(batch)


def test_many_threads_appending_keep_one_valid_chain(
    log: VerdictLog, audit: AuditLog, shipped: Evaluator
) -> None:
    """Unsynchronised callers on many threads: every id distinct, every record logged, chain valid."""
    batch = records(shipped)[:3]
    results: list[list[str]] = []

    def work() -> None:
        for _ in range(10):
            results.append(log.append(batch))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ids = [verdict_id for result in results for verdict_id in result]
    assert len(set(ids)) == 4 * 10 * 3
    report = audit.verify()
    assert report.ok, report.problems
    assert report.verdicts == len(ids)


def test_an_unavailable_database_fails_the_append_then_recovers(
    log_location: str, shipped: Evaluator, shipped_bundle: Bundle
) -> None:
    """While the database cannot be written, append raises LogUnavailable and logs nothing;
    once it can, appends go on by themselves and the chain verifies."""
    proxy: TcpProxy | None = None
    if is_postgres(log_location):
        target = conninfo_to_dict(log_location)
        proxy = TcpProxy((str(target.get("host", "127.0.0.1")), int(target.get("port", 5432))))
        database: Database = open_database(
            make_conninfo(log_location, host="127.0.0.1", port=str(proxy.port))
        )
        outage = proxy.stopped()
    else:
        database = SqliteDatabase(Path(log_location.removeprefix("sqlite:")), busy_timeout=0.05)
        outage = writes_blocked(log_location)
    writer = VerdictLog(database, "outage")
    writer.store_bundle(shipped_bundle)
    reader = AuditLog(open_database(log_location))
    try:
        before = writer.append(records(shipped)[:2])
        with outage:
            with pytest.raises(LogUnavailable):
                writer.append(records(shipped)[:2])
            with pytest.raises(LogUnavailable):
                writer.append(records(shipped)[:1])
        after = eventually(lambda: writer.append(records(shipped)[:2]))  # once its backoff has passed
        report = reader.verify()
        assert report.ok, report.problems
        assert report.verdicts == len(before) + len(after)
        assert [reader.get(i).seq for i in before + after] == [1, 2, 3, 4]  # type: ignore[union-attr]
    finally:
        writer.close()
        reader.close()
        if proxy is not None:
            proxy.stop()


def test_a_connection_cut_while_idle_is_replaced_without_failing(
    shipped: Evaluator, shipped_bundle: Bundle
) -> None:
    """PostgreSQL ends the writer's idle connection (restart, idle timeout): the next append
    still succeeds on a new connection, and the chain goes on."""
    with pg_schema() as dsn:
        name = f"tamis-cut-{secrets.token_hex(4)}"
        writer = VerdictLog(open_database(make_conninfo(dsn, application_name=name)), "cut")
        writer.store_bundle(shipped_bundle)
        audit = AuditLog(open_database(dsn))
        try:
            writer.append(records(shipped)[:1])
            with psycopg.connect(dsn, autocommit=True) as admin:
                cut = admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
                    (name,),
                ).fetchall()
            assert cut == [(True,)]
            writer.append(records(shipped)[1:2])
            report = audit.verify()
            assert report.ok, report.problems
            assert report.verdicts == 2
        finally:
            writer.close()
            audit.close()


def test_a_logged_verdict_rebuilds_the_engine_verdict(
    log: VerdictLog, audit: AuditLog, shipped: Evaluator
) -> None:
    """The verdict rebuilt from the log equals the one the engine returned, evidence and all."""
    listings = samples()
    ids = log.append(records(shipped, listings))
    for verdict_id, listing in zip(ids, listings, strict=True):
        logged = audit.get(verdict_id)
        assert logged is not None
        assert logged.verdict() == shipped.evaluate(listing, AS_OF)


def _append_from_another_process(location: str, batches: int) -> None:
    evaluator = Evaluator(load_bundle(POLICIES))
    log = VerdictLog(open_database(location), "child")
    log.store_bundle(evaluator.bundle)
    for _ in range(batches):
        log.append(records(evaluator))
    log.close()


def test_processes_writing_one_sqlite_file_queue_without_losing_rows(tmp_path: Path) -> None:
    """Two server processes append to one SQLite log at once: every row lands, both chains verify."""
    location = f"sqlite:{tmp_path / 'shared.sqlite3'}"
    context = multiprocessing.get_context("spawn")
    children = [context.Process(target=_append_from_another_process, args=(location, 6)) for _ in range(2)]
    for child in children:
        child.start()
    for child in children:
        child.join(timeout=120)
    assert [child.exitcode for child in children] == [0, 0]
    report = AuditLog(open_database(location, create=False)).verify()
    assert report.ok, report.problems
    assert sorted(head.seq for head in report.heads) == [6 * len(samples())] * 2


def _open_log_at_once(path: Path, barrier: multiprocessing.synchronize.Barrier) -> None:
    barrier.wait()
    SqliteDatabase(path).connect().close()


def test_processes_opening_a_new_sqlite_file_at_once_all_succeed(tmp_path: Path) -> None:
    """Workers starting together on a fresh file: switching it to WAL fails without waiting
    ("database is locked") unless they take turns; before they did, about one open in ten failed."""
    context = multiprocessing.get_context("spawn")
    for round_number in range(3):
        barrier = context.Barrier(4)
        path = tmp_path / f"fresh-{round_number}.sqlite3"
        children = [context.Process(target=_open_log_at_once, args=(path, barrier)) for _ in range(4)]
        for child in children:
            child.start()
        for child in children:
            child.join(timeout=60)
        assert [child.exitcode for child in children] == [0] * 4
