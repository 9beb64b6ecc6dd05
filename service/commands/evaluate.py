"""`tamis eval`: judge a JSON-lines file of listings, one verdict per line, in order.

A line that is not valid JSON, or a listing that breaks the contract, gets an error object on
its own output line and the run goes on. Progress and a summary go to stderr. With
`--statements`, the output is instead the DSA statements of reasons of each blocked listing (one
per jurisdiction of its grounds), decided on `--decided-on` (today by default).
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from datetime import UTC, date, datetime
from itertools import islice
from pathlib import Path
from typing import IO, Any

import orjson

from tamis.engine import (
    Decision,
    Evaluator,
    Ground,
    Limits,
    ListingError,
    Match,
    Verdict,
    statements_of_reasons,
)
from tamis.service.commands.common import add_as_of_option, add_policies_option, day_argument, load_or_report
from tamis.service.heap import settle_heap
from tamis.service.verdictforms import evidence_to_json, match_to_json, verdict_to_json

BATCH = 256


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "eval",
        help="evaluate a JSON-lines file of listings",
        description="Write one JSON verdict per input line, in order; bad lines get an error "
        "object and the run goes on. Progress goes to stderr.",
    )
    parser.add_argument(
        "--input",
        required=True,
        metavar="FILE.jsonl",
        help="listings, one JSON object per line ('-' for stdin)",
    )
    parser.add_argument(
        "--statements",
        action="store_true",
        help="instead of verdicts, write the DSA statements of reasons (Transparency Database "
        "schema) of each blocked listing, one per jurisdiction of its grounds: {listing_id, line, statement}",
    )
    parser.add_argument(
        "--decided-on",
        type=day_argument,
        metavar="YYYY-MM-DD",
        help="with --statements: the day the decisions apply (application_date); default today (UTC)",
    )
    add_as_of_option(parser)
    add_policies_option(parser)
    parser.set_defaults(handler=run)


class Progress:
    """Listings done and rate on stderr: redrawn on a terminal, a line every few seconds otherwise."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.interactive = stream.isatty()
        self.started = self.last = time.monotonic()
        self.done = self.failed = 0

    def update(self, done: int, failed: int) -> None:
        self.done, self.failed = self.done + done, self.failed + failed
        now = time.monotonic()
        if now - self.last >= (0.5 if self.interactive else 5.0):
            self.last = now
            end = "\r" if self.interactive else "\n"
            print(f"{self._status()}", end=end, file=self.stream, flush=True)

    def finish(self) -> None:
        if self.interactive:
            print(" " * 60, end="\r", file=self.stream)
        print(f"done: {self._status()}", file=self.stream, flush=True)

    def _status(self) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        return (
            f"{self.done:,} listings ({self.failed:,} errors) in {elapsed:.1f}s, {self.done / elapsed:,.0f}/s"
        )


def error_line(
    line: int, message: str, listing_id: Any = None, violations: list[dict[str, str]] | None = None
) -> bytes:
    result: dict[str, Any] = {"listing_id": listing_id, "line": line, "error": message}
    if violations:
        result["violations"] = violations
    return orjson.dumps(result) + b"\n"


class VerdictLines:
    """Verdicts as JSON lines, byte for byte what `orjson.dumps(verdict_to_json(verdict))` writes, in a
    fraction of its time: what verdicts share (the decision, bundle digest and date around the
    matches; a policy's title, countries and grounds) is serialised once and reused, so that
    only the listing id and the evidence are serialised per verdict."""

    def __init__(self) -> None:
        self._frames: dict[tuple[Decision, str, date], tuple[bytes, bytes]] = {}
        self._heads: dict[tuple[str, str, Decision, tuple[str, ...], str, tuple[Ground, ...]], bytes] = {}

    def __call__(self, verdict: Verdict) -> bytes:
        frame = self._frames.get((verdict.decision, verdict.bundle_digest, verdict.as_of))
        if frame is None:
            frame = self._frame(verdict)
        opening, closing = frame
        matches = b",".join([self._match(match) for match in verdict.matches])
        return b'{"listing_id":' + orjson.dumps(verdict.listing_id) + opening + matches + closing

    def _frame(self, verdict: Verdict) -> tuple[bytes, bytes]:
        """What comes between the listing id and the matches, and after the matches."""
        whole = orjson.dumps({**verdict_to_json(verdict), "listing_id": None, "matches": []})
        opening, closing = whole.removeprefix(b'{"listing_id":null').split(b'"matches":[]')
        frame = self._frames[verdict.decision, verdict.bundle_digest, verdict.as_of] = (
            opening + b'"matches":[',
            b"]" + closing + b"\n",
        )
        return frame

    def _match(self, match: Match) -> bytes:
        key = (match.policy, match.title, match.decision, match.countries, match.confidence, match.grounds)
        head = self._heads.get(key)
        if head is None:
            whole = orjson.dumps({**match_to_json(match), "evidence": []})
            head = self._heads[key] = whole.removesuffix(b"[]}")
        return head + orjson.dumps([evidence_to_json(item) for item in match.evidence]) + b"}"


def evaluate_stream(
    evaluator: Evaluator, source: IO[bytes], out: IO[bytes], arguments: argparse.Namespace
) -> int:
    limits: Limits = evaluator.limits
    progress = Progress(sys.stderr)
    verdict_line = VerdictLines()
    number = 0  # of the last line read
    while batch := list(islice(source, BATCH)):
        lines: list[bytes] = [b""] * len(batch)  # what each input line gives, in order
        pending: list[tuple[int, Any]] = []  # (index in the batch, listing)
        for index, raw in enumerate(batch):
            if len(raw) > limits.max_listing_bytes:
                message = f"line is {len(raw)} bytes; the limit is {limits.max_listing_bytes}"
                lines[index] = error_line(number + index + 1, message)
                continue
            try:
                pending.append((index, orjson.loads(raw)))
            except orjson.JSONDecodeError as error:
                lines[index] = error_line(number + index + 1, f"invalid JSON: {error}")
        failed = len(batch) - len(pending)
        verdicts = evaluator.evaluate_many([listing for _, listing in pending], arguments.as_of)
        for (index, listing), verdict in zip(pending, verdicts, strict=True):
            if isinstance(verdict, ListingError):
                failed += 1
                lines[index] = error_line(
                    number + index + 1,
                    f"invalid listing: {verdict}",
                    listing.get("id") if isinstance(listing, dict) else None,
                    [{"field": v.field, "description": v.description} for v in verdict.violations],
                )
            elif arguments.statements:
                decided_on = arguments.decided_on or datetime.now(UTC).date()
                lines[index] = b"".join(
                    orjson.dumps(
                        {"listing_id": verdict.listing_id, "line": number + index + 1, "statement": statement}
                    )
                    + b"\n"
                    for statement in statements_of_reasons(
                        verdict, listing, evaluator.bundle, decided_on=decided_on
                    )
                )
            else:
                lines[index] = verdict_line(verdict)
        out.write(b"".join(lines))
        number += len(batch)
        progress.update(len(batch), failed)
    out.flush()
    progress.finish()
    return 0


def run(arguments: argparse.Namespace) -> int:
    bundle = load_or_report(arguments.policies)
    if bundle is None:
        return 1
    evaluator = Evaluator(bundle)
    settle_heap()
    # A batch's listings and verdicts outlive many young collections at the default threshold
    # (700 new objects), which took ~4% of a run; at 10,000 they take almost nothing, and a
    # run's garbage cycles, if any, are still collected.
    gc.set_threshold(10_000)
    sys.stdout.flush()  # lines go to its buffer, as the UTF-8 bytes they are encoded in
    if arguments.input == "-":
        return evaluate_stream(evaluator, sys.stdin.buffer, sys.stdout.buffer, arguments)
    path = Path(arguments.input)
    if not path.is_file():
        print(f"tamis: input file not found: {path}", file=sys.stderr)
        return 1
    with path.open("rb") as source:
        return evaluate_stream(evaluator, source, sys.stdout.buffer, arguments)
