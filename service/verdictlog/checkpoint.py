"""Signed checkpoints: the log's heads, signed with a key the database never sees, kept elsewhere.

A hash chain proves nothing against whoever can write the database: they can change a record
and re-chain every later one, cut the newest records and move the writer's head back, or delete
a whole writer. A checkpoint is what Certificate Transparency's signed tree heads and Rekor's
checkpoints are: every writer's (id, seq, head hash), the stored bundle digests and the time,
signed with an Ed25519 key. Shipped off the box (a write-once bucket, the auditor's mailbox), it
lets `verify` prove the log still *extends* it: each writer it names is there, with the record
at that seq hashing to the head it signed. Only the records up to the latest checkpoint are
anchored; those after it are as good as the chain alone.

A checkpoint file is JSON: {"checkpoint": {...}, "key": "<SHA-256 of the raw public key>",
"signature": "<base64 Ed25519 over CHECKPOINT_FORMAT, a newline and the checkpoint's canonical
JSON>"}. Keys are PEM: the private one PKCS #8 (mode 0600), the public one SubjectPublicKeyInfo.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from tamis.service.verdictlog.records import canonical_json, format_time
from tamis.service.verdictlog.store import Session

CHECKPOINT_FORMAT = "tamis-checkpoint-v1"
#: Largest checkpoint file read (a checkpoint names every writer ever started: thousands at most).
MAX_CHECKPOINT_BYTES = 64 << 20
PRIVATE_KEY_NAME = "checkpoint.key"
PUBLIC_KEY_NAME = "checkpoint.pub"


class CheckpointError(ValueError):
    """A key or checkpoint file that cannot be used; the message names it."""


@dataclass(frozen=True)
class WriterHead:
    writer: str
    seq: int
    hash: str


@dataclass(frozen=True)
class Checkpoint:
    """The log's state at one moment: every writer's head and every stored bundle."""

    time: datetime
    writers: tuple[WriterHead, ...]
    bundles: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": CHECKPOINT_FORMAT,
            "time": format_time(self.time),
            "writers": [{"writer": h.writer, "seq": h.seq, "hash": h.hash} for h in self.writers],
            "bundles": list(self.bundles),
        }

    @classmethod
    def from_dict(cls, data: Any) -> Checkpoint:
        if not isinstance(data, dict) or data.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"not a {CHECKPOINT_FORMAT} checkpoint")
        return cls(
            datetime.fromisoformat(data["time"]),
            tuple(WriterHead(str(h["writer"]), int(h["seq"]), str(h["hash"])) for h in data["writers"]),
            tuple(str(digest) for digest in data["bundles"]),
        )


@dataclass(frozen=True)
class SignedCheckpoint:
    """A checkpoint read from a file whose signature verified."""

    path: Path
    checkpoint: Checkpoint


def take(session: Session, now: datetime | None = None) -> Checkpoint:
    """The log's heads and bundles, as of one snapshot."""
    dialect = session.dialect
    with session.snapshot():
        writers = session.all("SELECT id, head_seq, head_hash FROM writers ORDER BY id")
        bundles = session.all("SELECT digest FROM bundles ORDER BY digest")
    return Checkpoint(
        now or datetime.now(UTC),
        tuple(WriterHead(dialect.id_value(w), int(seq), str(h)) for w, seq, h in writers),
        tuple(str(row[0]) for row in bundles),
    )


def _message(body: dict[str, Any]) -> bytes:
    return f"{CHECKPOINT_FORMAT}\n{canonical_json(body)}".encode()


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def sign(checkpoint: Checkpoint, key: Ed25519PrivateKey) -> bytes:
    """The checkpoint file's bytes."""
    body = checkpoint.to_dict()
    signature = base64.b64encode(key.sign(_message(body))).decode()
    document = {"checkpoint": body, "key": key_id(key.public_key()), "signature": signature}
    return (json.dumps(document, indent=1, sort_keys=True) + "\n").encode()


def write(directory: Path, checkpoint: Checkpoint, key: Ed25519PrivateKey) -> Path:
    """Write a signed checkpoint into `directory` (never over an existing file); its path."""
    directory.mkdir(parents=True, exist_ok=True)
    stamp = checkpoint.time.astimezone(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    data = sign(checkpoint, key)
    for attempt in range(100):
        path = directory / f"checkpoint-{stamp}{f'-{attempt}' if attempt else ''}.json"
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            continue
        with os.fdopen(descriptor, "wb") as target:
            target.write(data)
            target.flush()
            os.fsync(target.fileno())
        return path
    raise CheckpointError(f"cannot find a free checkpoint file name in {directory}")


def read(path: Path, public: Ed25519PublicKey) -> Checkpoint:
    """The checkpoint in `path`; raises CheckpointError unless `public` signed it as it is."""
    try:
        with path.open("rb") as source:
            data = source.read(MAX_CHECKPOINT_BYTES + 1)
    except OSError as error:
        raise CheckpointError(f"checkpoint {path}: cannot read it: {error.strerror}") from error
    if len(data) > MAX_CHECKPOINT_BYTES:
        raise CheckpointError(f"checkpoint {path}: over {MAX_CHECKPOINT_BYTES} bytes")
    try:
        document = json.loads(data)
        signature = base64.b64decode(document["signature"], validate=True)
        body = document["checkpoint"]
        message = _message(body)
    except (ValueError, KeyError, TypeError, RecursionError, binascii.Error):
        raise CheckpointError(f"checkpoint {path}: not a checkpoint file") from None
    try:
        public.verify(signature, message)
    except InvalidSignature:
        raise CheckpointError(
            f"checkpoint {path}: its signature does not verify with the public key: the file was "
            "changed, or signed by another key"
        ) from None
    try:
        return Checkpoint.from_dict(body)
    except (ValueError, KeyError, TypeError) as error:
        raise CheckpointError(f"checkpoint {path}: signed but unreadable ({error})") from None


def read_all(directory: Path, public: Ed25519PublicKey) -> tuple[list[SignedCheckpoint], list[str]]:
    """Every checkpoint file (*.json) in `directory`: those that verify, and why others do not."""
    if not directory.is_dir():
        return [], [f"no checkpoint directory {directory}"]
    good: list[SignedCheckpoint] = []
    bad: list[str] = []
    for path in sorted(directory.glob("*.json")):
        try:
            good.append(SignedCheckpoint(path, read(path, public)))
        except CheckpointError as error:
            bad.append(str(error))
    if not good and not bad:
        bad.append(f"no checkpoint in {directory}: nothing anchors the log")
    return good, bad


def missing_from_log(
    session: Session, checkpoints: Iterable[SignedCheckpoint]
) -> list[tuple[WriterHead, str]]:
    """Each (head, reason) of a checkpoint the log no longer extends; read in the caller's snapshot."""
    dialect = session.dialect
    writers = {dialect.id_value(row[0]) for row in session.all("SELECT id FROM writers")}
    bundles = {str(row[0]) for row in session.all("SELECT digest FROM bundles")}
    found: dict[tuple[str, int], str | None] = {}
    failures: list[tuple[WriterHead, str]] = []
    for signed in checkpoints:
        name = signed.path.name
        for head in signed.checkpoint.writers:
            if head.writer not in writers:
                failures.append(
                    (
                        head,
                        f"writer missing from the log, though checkpoint {name} signed its seq "
                        f"{head.seq}: the whole chain was deleted",
                    )
                )
                continue
            if head.seq == 0:
                continue
            key = (head.writer, head.seq)
            if key not in found:
                row = session.one(
                    "SELECT hash FROM verdicts WHERE writer_id = ? AND seq = ?",
                    (dialect.id_param(head.writer), head.seq),
                )
                found[key] = None if row is None else str(row[0])
            stored = found[key]
            if stored is None:
                failures.append(
                    (head, f"the record checkpoint {name} signed is gone: the chain was truncated")
                )
            elif stored != head.hash:
                failures.append(
                    (
                        head,
                        f"the record's hash is not the one checkpoint {name} signed: it or a record "
                        "before it was changed and the chain re-computed",
                    )
                )
        for digest in signed.checkpoint.bundles:
            if digest not in bundles:
                failures.append(
                    (
                        WriterHead("", 0, ""),
                        f"bundle {digest}, signed in checkpoint {name}, is gone from the log",
                    )
                )
    return failures


# --- keys -------------------------------------------------------------------------------------


def generate_keys(directory: Path) -> tuple[Path, Path]:
    """A new Ed25519 key pair in `directory` (made 0700): the private key 0600, never overwritten."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    private_path, public_path = directory / PRIVATE_KEY_NAME, directory / PUBLIC_KEY_NAME
    for path in (private_path, public_path):
        if path.exists():
            raise CheckpointError(f"{path} exists already: move it away first (keys are never overwritten)")
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    _create(private_path, private, 0o600)
    _create(public_path, public, 0o644)
    return private_path, public_path


def _create(path: Path, data: bytes, mode: int) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(descriptor, "wb") as target:
        target.write(data)
    path.chmod(mode)  # whatever the umask


def load_private_key(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(_read_key(path), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as error:
        raise CheckpointError(f"{path}: not an unencrypted PEM private key ({error})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise CheckpointError(f"{path}: not an Ed25519 private key (make one with `tamis audit keygen`)")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(_read_key(path))
    except (ValueError, UnsupportedAlgorithm) as error:
        raise CheckpointError(f"{path}: not a PEM public key ({error})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise CheckpointError(f"{path}: not an Ed25519 public key (`tamis audit keygen` writes one)")
    return key


def _read_key(path: Path) -> bytes:
    try:
        with path.open("rb") as source:
            data = source.read(65536)
    except OSError as error:
        raise CheckpointError(f"cannot read key {path}: {error.strerror}") from error
    if b"-----BEGIN " not in data:
        raise CheckpointError(f"{path}: not a PEM key")
    return data
