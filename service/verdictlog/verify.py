"""Verifying the log: every chain recomputes and links, indexes agree, bundles match digests.

Per writer, records are walked in seq order: each must recompute to its stored hash (no field
changed), carry seq one more than the last (none removed), link to the last record's hash and
have a later id (none moved), and the chain must reach the head the writer recorded with its
last commit (none removed from the end). The first bad record of a chain is reported with its id
and why; the rest of that chain is not judged, since it hangs on the bad one. Then the policy and
ground index rows must be exactly those derived from each verdict's matches (else queries would
hide or invent verdicts), and each stored bundle must hash to its digest (else replays lie).

Reads go in keyset chunks (never one huge result) inside one snapshot, so writers may go on
appending meanwhile.
Removing a whole writer (its rows and its writers row), or re-computing every hash after a
changed record and moving the head, leaves no trace in the log itself: signed checkpoints kept
elsewhere catch that (checkpoint.py). Given checkpoints, every writer head they signed must
still be in the log with the same hash.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from tamis.engine import bundle_digest
from tamis.service.verdictlog.chain import GENESIS_HASH, record_hash
from tamis.service.verdictlog.checkpoint import SignedCheckpoint, missing_from_log
from tamis.service.verdictlog.erase import Erasure, recorded_erasures
from tamis.service.verdictlog.records import IndexEntries, LoggedVerdict, request_digest
from tamis.service.verdictlog.rows import from_row, select_columns
from tamis.service.verdictlog.store import Session

CHUNK = 5000


@dataclass(frozen=True)
class Problem:
    """A record (or table) that fails verification, and why."""

    reason: str
    verdict_id: str | None = None
    writer: str | None = None
    seq: int | None = None

    def __str__(self) -> str:
        where = [f"verdict {self.verdict_id}"] if self.verdict_id else []
        if self.writer:
            where.append(f"writer {self.writer}" + (f" seq {self.seq}" if self.seq is not None else ""))
        return f"{', '.join(where)}: {self.reason}" if where else self.reason

    def to_dict(self) -> dict[str, Any]:
        """The JSON form of the AuditService's LogProblem (empty strings and 0 for absent values)."""
        return {
            "verdict_id": self.verdict_id or "",
            "writer": self.writer or "",
            "seq": self.seq or 0,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class ChainHead:
    """Where a writer's chain ends: keep these elsewhere to detect a whole chain removed."""

    writer: str
    seq: int
    hash: str


@dataclass
class VerifyReport:
    verdicts: int = 0
    bundles: int = 0
    checkpoints: int = 0
    heads: list[ChainHead] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "verdicts": self.verdicts,
            "bundles": self.bundles,
            "checkpoints": self.checkpoints,
            "heads": [{"writer": h.writer, "seq": h.seq, "hash": h.hash} for h in self.heads],
            "problems": [problem.to_dict() for problem in self.problems],
        }


def verify_log(
    session: Session, checkpoints: Sequence[SignedCheckpoint] = (), *, incremental: bool = False
) -> VerifyReport:
    """Check the whole log as of one snapshot (writers may go on appending meanwhile), and that
    it still extends every checkpoint given (their signatures checked already).

    `incremental`: recompute only the records after the furthest checkpointed seq of each
    writer, chaining on from the checkpointed hash (and index rows from there on). Every
    checkpoint head is still looked up, so a re-chained or cut log is still caught; a record
    below a checkpoint whose contents changed but whose hash did not is caught only by a full
    verification: run one now and then."""
    report = VerifyReport()
    with session.snapshot():
        start = _checkpointed(session, checkpoints) if incremental else {}
        digests = _verify_chains(session, report, recorded_erasures(session), start)
        _verify_indexes(session, report, min((chain.last_id for chain in start.values()), default=None))
        _verify_bundles(session, digests, report)
        for head, reason in missing_from_log(session, checkpoints):
            writer = head.writer or None
            report.problems.append(Problem(reason, None, writer, head.seq if writer else None))
    report.checkpoints = len(checkpoints)
    return report


@dataclass
class _Chain:
    writer: str
    head: tuple[int, str] | None
    seq: int = 0
    hash: str = GENESIS_HASH
    last_id: str = ""
    broken: bool = False


def _checkpointed(session: Session, checkpoints: Sequence[SignedCheckpoint]) -> dict[str, _Chain]:
    """Each checkpointed writer's chain as of its furthest checkpointed seq still in the log."""
    furthest: dict[str, tuple[int, str]] = {}
    for signed in checkpoints:
        for head in signed.checkpoint.writers:
            if head.seq > furthest.get(head.writer, (0, ""))[0]:
                furthest[head.writer] = (head.seq, head.hash)
    dialect = session.dialect
    chains: dict[str, _Chain] = {}
    for writer, (seq, own) in furthest.items():
        row = session.one(
            "SELECT id, hash FROM verdicts WHERE writer_id = ? AND seq = ?", (dialect.id_param(writer), seq)
        )
        if row is not None and row[1] == own:  # else missing_from_log names it; verify this chain whole
            chains[writer] = _Chain(writer, None, seq, own, dialect.id_value(row[0]))
    return chains


def _chain_rows(session: Session, skip: Mapping[str, _Chain]) -> Iterator[LoggedVerdict]:
    """Every record in (writer, seq) order, but those at or below the seq `skip` gives a writer."""
    dialect = session.dialect
    after: tuple[Any, int] | None = None
    while True:
        where = "WHERE (v.writer_id, v.seq) > (?, ?) " if after else ""
        rows = session.all(
            f"SELECT {select_columns()} FROM verdicts v {where}ORDER BY v.writer_id, v.seq LIMIT ?",
            (*(after or ()), CHUNK),
        )
        jumped = False
        for row in rows:
            verdict = from_row(row, dialect)
            start = skip.get(verdict.writer)
            if start is not None and verdict.seq <= start.seq:
                after, jumped = (row[1], start.seq), True  # to the writer's first unchecked record
                break
            yield verdict
        if jumped:
            continue
        if len(rows) < CHUNK:
            return
        after = (rows[-1][1], rows[-1][2])


def _verify_chains(
    session: Session, report: VerifyReport, erasures: list[Erasure], start: Mapping[str, _Chain]
) -> set[str]:
    dialect = session.dialect
    heads = {
        dialect.id_value(writer): (int(seq), str(head))
        for writer, seq, head in session.all("SELECT id, head_seq, head_hash FROM writers")
    }
    chains: dict[str, _Chain] = {}
    digests: set[str] = set()
    for writer, begun in start.items():
        chains[writer] = replace(begun, head=heads.get(writer))
    for verdict in _chain_rows(session, start):
        report.verdicts += 1
        digests.add(verdict.record.bundle_digest)
        chain = chains.get(verdict.writer)
        if chain is None:
            chain = chains[verdict.writer] = _Chain(verdict.writer, heads.get(verdict.writer))
        if chain.broken:
            continue
        reason = _check(chain, verdict)
        if reason is None and not verdict.record.request:
            record = verdict.record
            if not any(erasure.explains(record.seller_id, verdict.time) for erasure in erasures):
                report.problems.append(
                    Problem(
                        "its request was erased, but no recorded erasure covers it",
                        verdict.id,
                        verdict.writer,
                        verdict.seq,
                    )
                )
        if reason:
            chain.broken = True
            report.problems.append(Problem(reason, verdict.id, verdict.writer, verdict.seq))
        else:
            chain.seq, chain.hash, chain.last_id = verdict.seq, verdict.hash, verdict.id
    for writer, head in sorted(heads.items()):
        chain = chains.setdefault(writer, _Chain(writer, head))
        report.heads.append(ChainHead(writer, chain.seq, chain.hash))
    for chain in chains.values():
        if chain.broken or chain.head is None:
            continue
        seq, own = chain.head
        if chain.seq < seq:
            report.problems.append(
                Problem(
                    f"the chain ends at seq {chain.seq} but the writer recorded a head at seq {seq}: "
                    f"records {chain.seq + 1}..{seq} were removed",
                    chain.last_id or None,
                    chain.writer,
                    seq if chain.seq + 1 == seq else None,
                )
            )
        elif chain.seq == seq and chain.hash != own:
            report.problems.append(
                Problem(
                    "the last record's hash is not the head the writer recorded",
                    chain.last_id,
                    chain.writer,
                    seq,
                )
            )
    return digests


def _check(chain: _Chain, verdict: LoggedVerdict) -> str | None:
    if chain.head is None:
        return "written by a writer missing from the writers table"
    if verdict.seq != chain.seq + 1:
        if verdict.seq > chain.seq + 1:
            missing = (
                f"{chain.seq + 1}" if verdict.seq == chain.seq + 2 else f"{chain.seq + 1}..{verdict.seq - 1}"
            )
            return f"the chain jumps from seq {chain.seq} to {verdict.seq}: record(s) {missing} removed"
        return f"seq {verdict.seq} repeats or goes back (after seq {chain.seq})"
    expected = record_hash(
        verdict.record,
        verdict_id=verdict.id,
        writer=verdict.writer,
        seq=verdict.seq,
        moment=verdict.time,
        prev_hash=verdict.prev_hash,
    )
    if expected != verdict.hash:
        return "its contents do not match its hash: the record was changed after it was written"
    record = verdict.record
    if (
        record.request
        and record.request_hash is not None
        and request_digest(record.request) != record.request_hash
    ):
        return "its request does not match the request hash its chain covers: the request was changed"
    if verdict.prev_hash != chain.hash:
        return f"its previous hash is not the hash of seq {chain.seq}: the record was replaced or moved"
    if verdict.id <= chain.last_id:
        return "its id is not after the previous record's id: records were reordered"
    return None


def _verify_indexes(session: Session, report: VerifyReport, lowest: str | None) -> None:
    """The index rows of every verdict with an id above `lowest` (every verdict: None)."""
    dialect = session.dialect
    while True:
        where = "WHERE id > ? " if lowest else ""
        rows = session.all(
            f"SELECT id, matches FROM verdicts {where}ORDER BY id LIMIT ?",
            (*((dialect.id_param(lowest),) if lowest else ()), CHUNK),
        )
        last = len(rows) < CHUNK
        ids = [dialect.id_value(row[0]) for row in rows]
        bounds, params = [], []
        if lowest:
            bounds.append("verdict_id > ?")
            params.append(dialect.id_param(lowest))
        if not last:
            bounds.append("verdict_id <= ?")
            params.append(dialect.id_param(ids[-1]))
        where = f" WHERE {' AND '.join(bounds)}" if bounds else ""
        found: dict[str, tuple[set[str], set[tuple[str, str]]]] = {}
        for verdict_id, policy in session.all(
            f"SELECT verdict_id, policy FROM verdict_policies{where}", params
        ):
            found.setdefault(dialect.id_value(verdict_id), (set(), set()))[0].add(policy)
        for verdict_id, instrument, article in session.all(
            f"SELECT verdict_id, instrument, article FROM verdict_grounds{where}", params
        ):
            found.setdefault(dialect.id_value(verdict_id), (set(), set()))[1].add((instrument, article))
        for verdict_id, (_, matches) in zip(ids, rows, strict=True):
            entries = IndexEntries.of(matches)
            policies, grounds = found.pop(verdict_id, (set(), set()))
            if policies != entries.policies or grounds != entries.grounds:
                report.problems.append(
                    Problem(
                        "its policy or ground index rows differ from its matches: queries would miss or "
                        f"invent it (index: {sorted(policies)} {sorted(grounds)})",
                        verdict_id,
                    )
                )
                return
        if found:
            orphan = min(found)
            report.problems.append(Problem("index rows name a verdict that is not in the log", orphan))
            return
        if last:
            return
        lowest = ids[-1]


def _verify_bundles(session: Session, referenced: set[str], report: VerifyReport) -> None:
    stored = [row[0] for row in session.all("SELECT digest FROM bundles ORDER BY digest")]
    report.bundles = len(stored)
    for digest in stored:
        sources = {
            path: bytes(content)
            for path, content in session.all(
                "SELECT path, content FROM bundle_sources WHERE digest = ?", (digest,)
            )
        }
        if bundle_digest(sources) != digest:
            report.problems.append(Problem(f"bundle {digest}: its stored sources do not hash to its digest"))
    for digest in sorted(referenced - set(stored)):
        report.problems.append(
            Problem(f"bundle {digest} is used by verdicts but not stored: they cannot be replayed")
        )
