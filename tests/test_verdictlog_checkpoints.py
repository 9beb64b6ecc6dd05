"""Signed checkpoints anchor the log outside its database, on both backends.

An intruder with write access to the database can re-chain after a change, cut the tail and
move the head back, or delete a whole writer; `verify` alone then says ok. Against a checkpoint
signed earlier, `tamis audit verify --checkpoints DIR --public-key PUB` names the writer and
seq the log no longer extends, and a checkpoint file changed or signed by another key is named.
"""

from __future__ import annotations

import dataclasses
import json
import stat
import subprocess
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest
from google.protobuf import json_format

from tamis.engine import Bundle, Evaluator
from tamis.service.server.tls import private_key_file
from tamis.service.verdictlog import AuditLog, LoggedVerdict, VerdictLog, checkpoint, open_database
from tamis.service.verdictlog.chain import record_hash
from tamis.v1 import policy_service_pb2
from tests.conftest import samples
from tests.test_server_harness import PATIENCE, TAMIS, proto_listing, wait_until
from tests.test_verdictlog_server import evaluate, logged_server, stream
from tests.test_verdictlog_support import records, tamper

pytest_plugins = ["tests.test_verdictlog_support"]


@dataclasses.dataclass
class Anchored:
    """Six verdicts of one writer, a checkpoint of them, and the keys."""

    location: str
    writer: str
    chain: list[LoggedVerdict]
    keys: Path
    checkpoints: Path

    def verify(
        self, public: Path | None = None, extra: Sequence[str] = ()
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                str(TAMIS),
                "audit",
                "verify",
                "--db",
                self.location,
                "--checkpoints",
                str(self.checkpoints),
                "--public-key",
                str(public or self.keys / checkpoint.PUBLIC_KEY_NAME),
                *extra,
            ],
            capture_output=True,
            text=True,
            check=False,
        )


@pytest.fixture
def anchored(
    log: VerdictLog, audit: AuditLog, shipped: Evaluator, log_location: str, tmp_path: Path
) -> Anchored:
    ids = log.append(records(shipped)[:6])
    keys = tmp_path / "keys"
    result = subprocess.run(
        [str(TAMIS), "audit", "keygen", "--out", str(keys)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    signed = tmp_path / "checkpoints"
    result = subprocess.run(
        [
            str(TAMIS),
            "audit",
            "checkpoint",
            "--db",
            log_location,
            "--key",
            str(keys / checkpoint.PRIVATE_KEY_NAME),
            "--out",
            str(signed),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    chain = [verdict for verdict in map(audit.get, ids) if verdict is not None]
    return Anchored(log_location, log.writer_id, chain, keys, signed)


def _delete(verdict_id: str) -> list[tuple[str, tuple[str, ...]]]:
    return [
        ("DELETE FROM verdict_policies WHERE verdict_id = ?", (verdict_id,)),
        ("DELETE FROM verdict_grounds WHERE verdict_id = ?", (verdict_id,)),
        ("DELETE FROM verdicts WHERE id = ?", (verdict_id,)),
    ]


def test_keygen_writes_a_private_key_only_its_owner_reads(tmp_path: Path) -> None:
    """0700 directory, 0600 private key, and never over an existing key."""
    private, public = checkpoint.generate_keys(tmp_path / "keys")
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "keys").stat().st_mode) == 0o700
    assert checkpoint.load_public_key(public) is not None
    result = subprocess.run(
        [str(TAMIS), "audit", "keygen", "--out", str(tmp_path / "keys")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "exists already" in result.stderr


def test_an_untouched_log_extends_its_checkpoint(
    anchored: Anchored, log: VerdictLog, shipped: Evaluator
) -> None:
    """ok, also after more verdicts were appended since the checkpoint."""
    log.append(records(shipped)[:3])
    result = anchored.verify()
    assert result.returncode == 0, result.stdout
    assert result.stdout.startswith(
        "ok: 9 verdicts in 1 chain(s), 1 bundle(s), against 1 signed checkpoint(s)"
    )


def test_a_changed_and_rechained_record_is_caught(anchored: Anchored, audit: AuditLog) -> None:
    """Turning seq 3 into an allow and re-computing every later hash and the head fools the chain,
    not the checkpoint: verify names the writer and the signed seq."""
    statements = []
    prev = anchored.chain[1].hash
    for position, verdict in enumerate(anchored.chain[2:], start=3):
        record = dataclasses.replace(verdict.record, decision="allow") if position == 3 else verdict.record
        own = record_hash(
            record,
            verdict_id=verdict.id,
            writer=verdict.writer,
            seq=verdict.seq,
            moment=verdict.time,
            prev_hash=prev,
        )
        statements.append(
            (
                "UPDATE verdicts SET decision = ?, prev_hash = ?, hash = ? WHERE id = ?",
                (record.decision, prev, own, verdict.id),
            )
        )
        prev = own
    statements.append(("UPDATE writers SET head_hash = ? WHERE id = ?", (prev, anchored.writer)))
    tamper(anchored.location, *statements)
    assert audit.verify().ok  # the chain alone is fooled
    result = anchored.verify()
    assert result.returncode == 1
    assert f"writer {anchored.writer} seq 6: the record's hash is not the one checkpoint" in result.stdout


def test_a_truncated_tail_is_caught(anchored: Anchored, audit: AuditLog) -> None:
    """Cutting seq 5 and 6 and moving the head back to 4: the checkpoint's seq 6 is gone."""
    statements = [*_delete(anchored.chain[4].id), *_delete(anchored.chain[5].id)]
    statements.append(
        (
            "UPDATE writers SET head_seq = 4, head_hash = ? WHERE id = ?",
            (anchored.chain[3].hash, anchored.writer),
        )
    )
    tamper(anchored.location, *statements)
    assert audit.verify().ok
    result = anchored.verify()
    assert result.returncode == 1
    assert f"writer {anchored.writer} seq 6: the record checkpoint" in result.stdout
    assert "the chain was truncated" in result.stdout


def test_a_deleted_writer_is_caught(anchored: Anchored, audit: AuditLog) -> None:
    """Deleting every record of a writer and its writers row leaves a log that verifies alone."""
    statements = [statement for verdict in anchored.chain for statement in _delete(verdict.id)]
    statements.append(("DELETE FROM writers WHERE id = ?", (anchored.writer,)))
    tamper(anchored.location, *statements)
    assert audit.verify().ok
    result = anchored.verify()
    assert result.returncode == 1
    assert f"writer {anchored.writer} seq 6: writer missing from the log" in result.stdout


def test_a_forged_checkpoint_is_named(anchored: Anchored) -> None:
    """Lowering a signed seq (to hide a truncation) breaks the signature."""
    (path,) = anchored.checkpoints.glob("*.json")
    document = json.loads(path.read_text(encoding="utf-8"))
    document["checkpoint"]["writers"][0]["seq"] = 4
    path.write_text(json.dumps(document), encoding="utf-8")
    result = anchored.verify()
    assert result.returncode == 1
    assert f"checkpoint {path}: its signature does not verify with the public key" in result.stdout


def test_a_checkpoint_signed_by_another_key_is_named(anchored: Anchored, tmp_path: Path) -> None:
    """An intruder's own key pair signs a checkpoint of the tampered log: it does not verify."""
    _, intruder_public = checkpoint.generate_keys(tmp_path / "intruder")
    intruder = checkpoint.load_private_key(tmp_path / "intruder" / checkpoint.PRIVATE_KEY_NAME)
    (genuine,) = anchored.checkpoints.glob("*.json")
    state = checkpoint.read(genuine, checkpoint.load_public_key(anchored.keys / checkpoint.PUBLIC_KEY_NAME))
    forged = checkpoint.write(anchored.checkpoints, dataclasses.replace(state, bundles=()), intruder)
    result = anchored.verify()
    assert result.returncode == 1
    assert f"checkpoint {forged}: its signature does not verify" in result.stdout
    assert anchored.verify(public=intruder_public).returncode == 1  # and the genuine one fails under it


def test_no_checkpoint_at_all_fails(anchored: Anchored) -> None:
    """An emptied checkpoint directory anchors nothing: verify says so rather than ok."""
    for path in anchored.checkpoints.glob("*.json"):
        path.unlink()
    result = anchored.verify()
    assert result.returncode == 1
    assert "no checkpoint in" in result.stdout


def test_a_deleted_bundle_is_caught(anchored: Anchored, shipped_bundle: Bundle) -> None:
    """Bundles signed in a checkpoint must stay in the log (replays need them)."""
    tamper(
        anchored.location,
        ("DELETE FROM bundle_sources WHERE digest = ?", (shipped_bundle.digest,)),
        ("DELETE FROM bundles WHERE digest = ?", (shipped_bundle.digest,)),
    )
    result = anchored.verify()
    assert result.returncode == 1
    assert f"bundle {shipped_bundle.digest}, signed in checkpoint" in result.stdout


def test_the_server_signs_checkpoints_as_it_serves_and_on_stop(tmp_path: Path) -> None:
    """With checkpoint_key and checkpoint_dir the server writes checkpoints every interval and one
    on stop that covers its last verdict; the log verifies against all of them."""
    private, public = checkpoint.generate_keys(tmp_path / "keys")
    location = f"sqlite:{tmp_path / 'verdicts.sqlite3'}"
    signed = tmp_path / "checkpoints"
    options = {"checkpoint_key": private, "checkpoint_dir": signed, "checkpoint_interval": 0.05}
    with logged_server(location, **options) as served:
        returned = [evaluate(served, listing) for listing in samples()[:3]]
        wait_until(lambda: len(list(signed.glob("*.json"))) >= 2, "two checkpoints")
    key = checkpoint.load_public_key(public)
    good, bad = checkpoint.read_all(signed, key)
    assert bad == []
    last = max(good, key=lambda item: item.checkpoint.time).checkpoint
    assert [head.seq for head in last.writers] == [len(returned)]
    audit = AuditLog(open_database(location, create=False))
    try:
        report = audit.verify(good)
    finally:
        audit.close()
    assert report.ok, report.problems
    assert report.checkpoints == len(good)


def test_a_checkpoint_key_others_can_read_is_refused(tmp_path: Path) -> None:
    """The option parser refuses a key with group or world permissions."""
    private, _ = checkpoint.generate_keys(tmp_path / "keys")
    private.chmod(0o644)
    with pytest.raises(ValueError, match=r"readable by others \(mode 0644\); chmod 600 it"):
        private_key_file(str(private))


def test_a_receipt_is_checked_against_the_log_and_a_checkpoint(log_location: str, tmp_path: Path) -> None:
    """Evaluate and every stream result carry a receipt (writer, seq, hash) matching the log; once
    a checkpoint covers it, `verify --receipt` proves it; a receipt with another hash, or one no
    checkpoint covers yet, fails."""
    private, public = checkpoint.generate_keys(tmp_path / "keys")
    signed = tmp_path / "checkpoints"
    options = {"checkpoint_key": private, "checkpoint_dir": signed, "checkpoint_interval": 3600.0}
    with logged_server(log_location, **options) as served:
        unary = served.stub.Evaluate(
            policy_service_pb2.EvaluateRequest(listing=proto_listing(samples()[0]), as_of="2025-11-20"),
            timeout=PATIENCE,
        )
        results = [result for response in stream(served, [samples()[1:4]]) for result in response.results]
    receipts = [unary.verdict.receipt, *(result.verdict.receipt for result in results)]
    assert [receipt.seq for receipt in receipts] == [1, 2, 3, 4]
    assert len({receipt.writer for receipt in receipts}) == 1
    audit = AuditLog(open_database(log_location, create=False))
    try:
        for verdict in [unary.verdict, *(result.verdict for result in results)]:
            logged = audit.get(verdict.verdict_id)
            assert logged is not None
            assert (logged.writer, logged.seq, logged.hash) == (
                verdict.receipt.writer,
                verdict.receipt.seq,
                verdict.receipt.hash,
            )
    finally:
        audit.close()

    def verify(
        response: policy_service_pb2.EvaluateResponse, checkpoints: Path = signed
    ) -> subprocess.CompletedProcess[str]:
        path = tmp_path / "receipt.json"
        path.write_text(json_format.MessageToJson(response), encoding="utf-8")
        anchors = ["--checkpoints", str(checkpoints), "--public-key", str(public)]
        return subprocess.run(
            [str(TAMIS), "audit", "verify", "--db", log_location, *anchors, "--receipt", str(path)],
            capture_output=True,
            text=True,
            check=False,
        )

    proven = verify(unary)
    assert proven.returncode == 0, proven.stdout
    assert "is in the log where it says, covered by a signed checkpoint" in proven.stdout
    forged = policy_service_pb2.EvaluateResponse()
    forged.CopyFrom(unary)
    forged.verdict.receipt.hash = "0" * 64
    refused = verify(forged)
    assert refused.returncode == 1
    assert (
        f"verdict {unary.verdict.verdict_id}, writer {unary.verdict.receipt.writer} seq 1: the log keeps"
        in (refused.stdout)
    )
    early = tmp_path / "early"
    checkpoint.write(
        early,
        checkpoint.Checkpoint(
            datetime.now(UTC), (checkpoint.WriterHead(unary.verdict.receipt.writer, 0, ""),), ()
        ),
        checkpoint.load_private_key(private),
    )
    uncovered = verify(unary, early)
    assert uncovered.returncode == 1
    assert "no signed checkpoint covers this seq of this writer yet" in uncovered.stdout


@pytest.mark.parametrize(
    "content",
    [b"[" * 100_000, b"\x00\xff garbage", b'{"checkpoint": {"time": 1e999}, "signature": "AAAA"}', b"{}"],
    ids=["nested-json", "binary", "infinite-number", "empty-object"],
)
def test_a_malformed_checkpoint_file_is_named_not_fatal(anchored: Anchored, content: bytes) -> None:
    """Hostile files in the checkpoint directory are reported one by one; the good one still counts."""
    hostile = anchored.checkpoints / "hostile.json"
    hostile.write_bytes(content)
    result = anchored.verify()
    assert result.returncode == 1
    assert f"bad: checkpoint {hostile}: " in result.stdout
    assert "against 1 signed checkpoint(s)" in result.stdout


def test_incremental_verification_starts_from_the_checkpoint(
    anchored: Anchored, log: VerdictLog, shipped: Evaluator
) -> None:
    """--incremental recomputes only the records after the checkpoint, chained on from its hash;
    a change there is caught, and so is a cut below it (the checkpoint head is still looked up)."""
    later = log.append(records(shipped)[:3])
    arguments = ["--incremental"]
    result = anchored.verify(extra=arguments)
    assert result.returncode == 0, result.stdout
    assert result.stdout.startswith(
        "ok: 3 verdicts in 1 chain(s), 1 bundle(s), against 1 signed checkpoint(s)"
    )
    tamper(anchored.location, ("UPDATE verdicts SET listing_id = 'forged' WHERE id = ?", (later[1],)))
    changed = anchored.verify(extra=arguments)
    assert changed.returncode == 1
    assert f"verdict {later[1]}, writer {anchored.writer} seq 8: its contents do not match" in changed.stdout
    tamper(anchored.location, *_delete(anchored.chain[5].id))
    cut = anchored.verify(extra=arguments)
    assert f"writer {anchored.writer} seq 6: the record checkpoint" in cut.stdout
