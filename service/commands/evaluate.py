"""`tamis eval`: judge a JSON-lines file of listings, one verdict per line, in order.

A line that is not valid JSON, or a listing that breaks the contract, gets an error object on
its own output line and the run goes on. Progress and a summary go to stderr. With
`--statements`, the output is instead the DSA statements of reasons of each blocked listing (one
per jurisdiction of its grounds), decided on `--decided-on` (today by default).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import IO, Any

import orjson

from tamis.engine import Evaluator, Limits, ListingError, statements_of_reasons
from tamis.service.commands.common import add_as_of_option, add_policies_option, load_or_report

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
        type=date.fromisoformat,
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


def error_object(
    line: int, message: str, listing_id: Any = None, violations: list[dict[str, str]] | None = None
) -> dict[str, Any]:
    result: dict[str, Any] = {"listing_id": listing_id, "line": line, "error": message}
    if violations:
        result["violations"] = violations
    return result


def _batches(stream: IO[bytes]) -> Iterator[list[tuple[int, bytes]]]:
    batch: list[tuple[int, bytes]] = []
    for number, raw in enumerate(stream, start=1):
        batch.append((number, raw))
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def evaluate_stream(
    evaluator: Evaluator, source: IO[bytes], out: IO[str], arguments: argparse.Namespace
) -> int:
    limits: Limits = evaluator.limits
    progress = Progress(sys.stderr)
    for batch in _batches(source):
        results: dict[int, list[dict[str, Any]]] = {}
        pending: list[tuple[int, Any]] = []
        for number, raw in batch:
            if len(raw) > limits.max_listing_bytes:
                results[number] = [
                    error_object(number, f"line is {len(raw)} bytes; the limit is {limits.max_listing_bytes}")
                ]
                continue
            try:
                pending.append((number, orjson.loads(raw)))
            except orjson.JSONDecodeError as error:
                results[number] = [error_object(number, f"invalid JSON: {error}")]
        verdicts = evaluator.evaluate_many([listing for _, listing in pending], arguments.as_of)
        for (number, listing), verdict in zip(pending, verdicts, strict=True):
            if isinstance(verdict, ListingError):
                listing_id = listing.get("id") if isinstance(listing, dict) else None
                results[number] = [
                    error_object(
                        number,
                        f"invalid listing: {verdict}",
                        listing_id,
                        [{"field": v.field, "description": v.description} for v in verdict.violations],
                    )
                ]
            elif arguments.statements:
                decided_on = arguments.decided_on or datetime.now(UTC).date()
                results[number] = [
                    {"listing_id": verdict.listing_id, "line": number, "statement": statement}
                    for statement in statements_of_reasons(
                        verdict, listing, evaluator.bundle, decided_on=decided_on
                    )
                ]
            else:
                results[number] = [verdict.to_dict()]
        out.write(
            b"".join(
                orjson.dumps(result) + b"\n" for number, _ in batch for result in results.get(number, ())
            ).decode()
        )
        progress.update(len(batch), sum("error" in result for found in results.values() for result in found))
    out.flush()
    progress.finish()
    return 0


def run(arguments: argparse.Namespace) -> int:
    bundle = load_or_report(arguments.policies)
    if bundle is None:
        return 1
    evaluator = Evaluator(bundle)
    if arguments.input == "-":
        return evaluate_stream(evaluator, sys.stdin.buffer, sys.stdout, arguments)
    path = Path(arguments.input)
    if not path.is_file():
        print(f"tamis: input file not found: {path}", file=sys.stderr)
        return 1
    with path.open("rb") as source:
        return evaluate_stream(evaluator, source, sys.stdout, arguments)
