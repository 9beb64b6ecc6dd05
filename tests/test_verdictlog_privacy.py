"""Least privilege and personal data: roles on the real PostgreSQL server, read-only SQLite for
auditors, private file modes, and listings erased (by seller, by retention) with verify still ok."""

from __future__ import annotations

import hashlib
import secrets
import shutil
import stat
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from tamis.engine import Bundle, Evaluator
from tamis.service.verdictlog import AuditLog, Database, LogError, VerdictLog, open_database
from tamis.service.verdictlog.schema import MIGRATIONS
from tests.conftest import samples
from tests.test_server_harness import TAMIS
from tests.test_verdictlog_support import PG_DSN, pg_schema, records, relabel, tamper

pytest_plugins = ["tests.test_verdictlog_support"]


def tamis_audit(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(TAMIS), "audit", *arguments], capture_output=True, text=True, check=False)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- SQLite files ---------------------------------------------------------------------------------


def test_a_new_sqlite_log_is_private(tmp_path: Path, shipped: Evaluator, shipped_bundle: Bundle) -> None:
    """The file (and its -wal, -shm and lock files) 0600, in a directory created 0700."""
    path = tmp_path / "var" / "verdicts.sqlite3"
    log = VerdictLog(open_database(f"sqlite:{path}"), "test")
    log.store_bundle(shipped_bundle)
    log.append(records(shipped)[:2])
    try:
        assert _mode(path.parent) == 0o700
        for name in (
            "verdicts.sqlite3",
            "verdicts.sqlite3-wal",
            "verdicts.sqlite3-shm",
            "verdicts.sqlite3.lock",
        ):
            assert _mode(path.parent / name) == 0o600, name
    finally:
        log.close()


def test_an_auditor_reads_a_read_only_copy(
    tmp_path: Path, shipped: Evaluator, shipped_bundle: Bundle
) -> None:
    """query, show and verify work on a read-only copy and leave its bytes as they were; a
    read-only session cannot write."""
    source = tmp_path / "live" / "verdicts.sqlite3"
    log = VerdictLog(open_database(f"sqlite:{source}"), "test")
    log.store_bundle(shipped_bundle)
    ids = log.append(records(shipped)[:3])
    log.close()
    copy = tmp_path / "copy" / "verdicts.sqlite3"
    copy.parent.mkdir()
    shutil.copy(source, copy)
    copy.chmod(0o444)
    before = hashlib.sha256(copy.read_bytes()).hexdigest()
    verified = tamis_audit("verify", "--db", str(copy))
    shown = tamis_audit("show", ids[0], "--db", str(copy))
    assert verified.returncode == 0, verified.stderr
    assert verified.stdout.startswith("ok: 3 verdicts")
    assert shown.returncode == 0, shown.stderr
    assert hashlib.sha256(copy.read_bytes()).hexdigest() == before
    session = open_database(f"sqlite:{source}", read_only=True).connect()
    try:
        with pytest.raises(LogError, match="readonly"):
            session.execute("INSERT INTO bundles VALUES ('sha256:x', '2025-01-01T00:00:00.000000Z')")
    finally:
        session.close()


def test_readers_never_migrate_an_old_log(tmp_path: Path) -> None:
    """A log of schema version 1 is refused by readers with the way out; `migrate` brings it up."""
    path = tmp_path / "old.sqlite3"
    database = open_database(f"sqlite:{path}")
    session = database.connect()
    try:
        session.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)")
        for statement in MIGRATIONS[1](database.dialect):
            session.execute(statement)
        session.execute("INSERT INTO schema_version VALUES (1, '2025-01-01T00:00:00.000000Z')")
    finally:
        session.close()
    refused = tamis_audit("verify", "--db", str(path))
    assert refused.returncode == 1
    assert "has schema version 1; this Tamis reads version 2: run `tamis audit migrate`" in refused.stderr
    migrated = tamis_audit("migrate", "--db", str(path))
    assert migrated.returncode == 0, migrated.stderr
    assert tamis_audit("verify", "--db", str(path)).returncode == 0


# --- erasure --------------------------------------------------------------------------------------


@pytest.fixture
def sellers(log: VerdictLog, shipped: Evaluator) -> list[str]:
    """Eight verdicts: four of seller A, four of seller B."""
    listings = [relabel(item, f"l-{n}", "A" if n % 2 else "B") for n, item in enumerate(samples()[:8])]
    return log.append(records(shipped, listings))


def test_erasing_a_seller_keeps_the_chain_and_is_recorded(
    sellers: list[str], audit: AuditLog, log_location: str
) -> None:
    """`erase --seller A` empties A's requests only; hashes, decisions and grounds stay; verify ok;
    show says erased; replay says why it cannot; the erasure is counted."""
    before = {verdict_id: audit.get(verdict_id) for verdict_id in sellers}
    erased = tamis_audit("erase", "--seller", "A", "--db", log_location)
    assert erased.returncode == 0, erased.stderr
    assert "erased the listings of 4 verdict(s) of seller A" in erased.stdout
    for verdict_id, old in before.items():
        new = audit.get(verdict_id)
        assert old is not None and new is not None
        assert new.hash == old.hash and new.record.request_hash == old.record.request_hash
        assert new.record.matches == old.record.matches
        assert (new.record.request == "") == (old.record.seller_id == "A")
    report = audit.verify()
    assert report.ok, report.problems
    a_verdict = next(v for v, old in before.items() if old is not None and old.record.seller_id == "A")
    assert "request   (erased)" in tamis_audit("show", a_verdict, "--db", log_location).stdout
    assert audit.replay(a_verdict).differences == [
        "its request was erased (personal data): nothing to replay"
    ]


def test_pruning_erases_what_was_logged_before_a_date(
    sellers: list[str], audit: AuditLog, log_location: str
) -> None:
    """`prune --before` (a retention period) erases every request logged before; verify stays ok."""
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    pruned = tamis_audit("prune", "--before", tomorrow, "--db", log_location)
    assert pruned.returncode == 0, pruned.stderr
    assert "erased the listings of 8 verdict(s) logged before" in pruned.stdout
    assert all(v is not None and v.record.request == "" for v in map(audit.get, sellers))
    assert audit.verify().ok


def test_an_unrecorded_erasure_is_reported(sellers: list[str], audit: AuditLog, log_location: str) -> None:
    """An insider who empties a request without recording an erasure is caught by verify."""
    tamper(log_location, ("UPDATE verdicts SET request = '' WHERE id = ?", (sellers[0],)))
    report = audit.verify()
    assert [(p.verdict_id, p.reason) for p in report.problems] == [
        (sellers[0], "its request was erased, but no recorded erasure covers it")
    ]


def test_the_guards_let_only_an_erasure_through(
    sellers: list[str], audit: AuditLog, log_database: Database
) -> None:
    """Changing a request, or erasing it while changing anything else, or removing a recorded
    erasure, is refused by the database."""
    assert audit.erase(seller_id="A").verdicts == 4
    session = log_database.connect()
    try:
        for sql in (
            "UPDATE verdicts SET request = '{}'",
            "UPDATE verdicts SET request = '', decision = 'allow'",
            "DELETE FROM erasures",
        ):
            with pytest.raises(LogError, match="append-only"):
                session.execute(sql)
    finally:
        session.close()


# --- PostgreSQL roles -----------------------------------------------------------------------------


@pytest.fixture
def roles() -> Iterator[tuple[str, str, str]]:
    """An owner's DSN on a fresh schema, and a runtime and an auditor role (dropped afterwards)."""
    suffix = secrets.token_hex(4)
    runtime, auditor = f"tamis_runtime_{suffix}", f"tamis_auditor_{suffix}"
    with psycopg.connect(PG_DSN, autocommit=True) as admin:
        for role in (runtime, auditor):
            admin.execute(f"CREATE ROLE {role} LOGIN")
    try:
        with pg_schema() as owner:
            yield owner, runtime, auditor
    finally:
        with psycopg.connect(PG_DSN, autocommit=True) as admin:
            for role in (runtime, auditor):
                admin.execute(f"DROP OWNED BY {role}")
                admin.execute(f"DROP ROLE {role}")


def _as(dsn: str, role: str) -> str:
    return dsn.replace("postgresql://postgres@", f"postgresql://{role}@", 1)


def test_the_runtime_role_may_only_insert_read_and_move_its_head(
    roles: tuple[str, str, str], shipped: Evaluator, shipped_bundle: Bundle
) -> None:
    """Migrated by the owner with grants; the server's role logs verdicts, but cannot change,
    delete, erase or alter anything; the auditor's role can only read."""
    owner, runtime, auditor = roles
    migrated = tamis_audit("migrate", "--db", owner, "--grant-runtime", runtime, "--grant-auditor", auditor)
    assert migrated.returncode == 0, migrated.stderr
    log = VerdictLog(open_database(_as(owner, runtime)), "runtime")
    log.store_bundle(shipped_bundle)
    ids = log.append(records(shipped)[:3])
    log.close()
    verified = tamis_audit("verify", "--db", _as(owner, auditor))
    assert verified.returncode == 0, verified.stderr
    assert verified.stdout.startswith("ok: 3 verdicts")
    with psycopg.connect(_as(owner, runtime), autocommit=True) as connection:
        connection.execute("UPDATE writers SET head_seq = head_seq")  # moving a head: allowed
        for sql in (
            "UPDATE verdicts SET decision = 'allow'",
            "UPDATE verdicts SET request = ''",
            "DELETE FROM verdicts",
            "UPDATE writers SET label = 'someone else'",
            "DELETE FROM writers",
            "INSERT INTO erasures VALUES (gen_random_uuid(), now(), 'seller', 'x', NULL, 0)",
            "CREATE TABLE intruder (x int)",
            "ALTER TABLE verdicts DROP COLUMN request_hash",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                connection.execute(sql)
    with psycopg.connect(_as(owner, auditor), autocommit=True) as connection:
        assert connection.execute("SELECT count(*) FROM verdicts").fetchone() == (len(ids),)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            connection.execute("INSERT INTO bundles VALUES ('x', now())")
    erased = tamis_audit("erase", "--seller", "nobody", "--db", _as(owner, runtime))
    assert erased.returncode == 1
    assert "permission denied" in erased.stderr
