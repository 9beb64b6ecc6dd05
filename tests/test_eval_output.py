"""`tamis eval` writes, byte for byte, the JSON lines it always has: compact JSON in UTF-8, keys
in the order of `verdict_to_json`, one line per verdict or error (one per statement with --statements).

Scripts read these files with tools that compare bytes (diff, checksums of runs), so a faster
serialiser must not change a byte. The expected lines come from an independent reference: the
standard library's `json.dumps` with the options that give that form, over a verdict judged
alone, on listings chosen to stress the form (text out of ASCII, control and line-separator
characters, numbers of every kind, errors of every kind).
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import pytest

from bench.corpus import generate
from tamis.engine import Evaluator, ListingError, statements_of_reasons
from tamis.service.cli import main
from tamis.service.verdictforms import verdict_to_json
from tests.conftest import POLICIES, samples

AS_OF = date(2025, 11, 20)
DECIDED_ON = date(2025, 11, 21)


def reference_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def hostile_lines(limit: int) -> list[bytes]:
    """Input lines (with their line ends) that exercise every form an output line takes."""
    sample = samples()[0]
    listings: list[Any] = [*samples(), *generate(150, seed=11)]
    listings += [
        {**sample, "id": "numbers", "price": {"amount": 1e-7, "currency": "EUR"},
         "attributes": {"height_cm": 1e16, "weight_kg": -0.0, "laser_power_mw": 0.1, "volume_ml": 2**53 + 1}},
        {**sample, "id": "réf-été-ß", "title": "Poupée\u0007 sexuelle mini 100cm\u2028\u00a0« réaliste » 😀"},
        {**sample, "id": "controls", "description": "tab\tnewline\nquote\" backslash\\ slash/ \u001f\u007f"},
        {**sample, "id": "bad\u202eid"},  # a contract error naming the character
        {**sample, "id": 5, "ship_to": "FR"},  # several violations, no usable id
        [1, 2], None, "a string", 1.5,  # JSON, but not a listing
    ]  # fmt: skip
    lines = [
        json.dumps(listing, ensure_ascii=number % 2 == 0).encode() + b"\n"
        for number, listing in enumerate(listings)
    ]
    lines += [
        b"{not json\n",
        b"\n",
        b"\xff\xfe not UTF-8\n",
        b'{"id": "surrogate", "title": "a\\ud800b"}\n',
        b'{"id": "nan", "title": "x", "attributes": {"height_cm": NaN}}\n',
        b'{"id": "big", "title": "' + b"x" * limit + b'"}\n',
        # the last line has no line end
        b'{"id": "last-line", "title": "poup\xc3\xa9e sexuelle mini 100cm", "ship_to": ["FR"]}',
    ]
    return lines


def expected_lines(raw: bytes, line: int, evaluator: Evaluator, statements: bool) -> list[str]:
    """What `tamis eval` writes for one input line, serialised by the reference."""

    def error(message: str, listing_id: Any = None, violations: Any = None) -> list[str]:
        found = {"listing_id": listing_id, "line": line, "error": message}
        return [reference_json({**found, "violations": violations} if violations else found)]

    limit = evaluator.limits.max_listing_bytes
    if len(raw) > limit:
        return error(f"line is {len(raw)} bytes; the limit is {limit}")
    try:
        listing = orjson.loads(raw)
    except orjson.JSONDecodeError as problem:
        return error(f"invalid JSON: {problem}")
    (verdict,) = evaluator.evaluate_many([listing], AS_OF)
    if isinstance(verdict, ListingError):
        return error(
            f"invalid listing: {verdict}",
            listing.get("id") if isinstance(listing, dict) else None,
            [{"field": v.field, "description": v.description} for v in verdict.violations],
        )
    if statements:
        return [
            reference_json({"listing_id": verdict.listing_id, "line": line, "statement": statement})
            for statement in statements_of_reasons(verdict, listing, evaluator.bundle, decided_on=DECIDED_ON)
        ]
    return [reference_json(verdict_to_json(verdict))]


@pytest.mark.parametrize("statements", [False, True], ids=["verdicts", "statements"])
def test_eval_output_is_the_reference_serialisation_byte_for_byte(
    statements: bool, shipped: Evaluator, tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    lines = hostile_lines(shipped.limits.max_listing_bytes)
    source = tmp_path / "in.jsonl"
    source.write_bytes(b"".join(lines))
    options = ["--statements", "--decided-on", str(DECIDED_ON)] if statements else []
    argv = ["eval", "--input", str(source), "--as-of", str(AS_OF), "--policies", str(POLICIES), *options]
    assert main(argv) == 0
    captured = capsysbinary.readouterr()
    expected = [
        text
        for number, raw in enumerate(lines, start=1)
        for text in expected_lines(raw, number, shipped, statements)
    ]
    assert captured.out == "".join(text + "\n" for text in expected).encode()
    errors = sum('"error":' in text for text in expected)
    assert f"done: {len(lines):,} listings ({errors} errors)".encode() in captured.err
    # The corpus exercises what it is meant to: blocks with evidence, every kind of error, and
    # text out of ASCII and escaped characters in the output.
    messages = [json.loads(text)["error"] for text in expected if '"error":' in text]
    for kind in ("line is", "invalid JSON", "invalid listing"):
        assert any(message.startswith(kind) for message in messages), kind
    assert any("é" in text for text in expected) and any("\\u0007" in text for text in expected)
    if not statements:
        assert sum('"decision":"block"' in text and '"start":' in text for text in expected) >= 5
