"""No input is echoed whole (issue 10, finding 6): messages quote a few dozen escaped characters,
ids with control or bidirectional characters are refused, and `tamis audit` escapes what it
prints, through the real contract, gRPC server, CLI and verdict log."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import grpc
import pytest

from tamis.engine import Evaluator, ListingError
from tamis.engine.listing import validate_listing
from tamis.engine.quote import QUOTE_LIMIT, clip, escape, escape_json, quote
from tamis.service.cli import main
from tamis.service.verdictlog import VerdictLog
from tamis.v1 import policy_service_pb2
from tests.conftest import samples
from tests.test_grpc_errors import violations
from tests.test_server_harness import PATIENCE, Served, proto_listing, sample, serving
from tests.test_verdictlog_support import records

pytest_plugins = ["tests.test_verdictlog_support"]

#: What an attacker puts in a field to repaint a terminal: clear the line, write "allow".
REPAINT = "\x1b[2K\r\x1b[32mallow\x1b[0m"
RTL_OVERRIDE = "\u202e"


def test_quote_escapes_and_bounds() -> None:
    """The one helper: quoted, cut, escaped; harmless text is shown as it is."""
    assert quote("FRANCE") == "'FRANCE'"
    assert quote("x" * 2_000_000) == "'" + "x" * QUOTE_LIMIT + "'… (2,000,000 characters)"
    assert quote(REPAINT) == "'\\x1b[2K\\r\\x1b[32mallow\\x1b[0m'"
    assert escape(f"s-1{RTL_OVERRIDE}kcolb") == "s-1\\u202ekcolb"
    assert (
        escape("tag\U000e0061 zero\u200bwidth back\\slash") == "tag\\U000e0061 zero\\u200bwidth back\\\\slash"
    )
    assert escape("Poupée «réaliste» кукла") == "Poupée «réaliste» кукла"
    assert clip("a\x00" * 100, 4) == "a\\x00a\\x00… (200 characters)"
    assert json.loads(escape_json(json.dumps({"id": REPAINT + RTL_OVERRIDE}, ensure_ascii=False))) == {
        "id": REPAINT + RTL_OVERRIDE
    }
    assert "\x1b" not in escape_json(json.dumps([REPAINT], ensure_ascii=False))


def contract_errors(listing: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ListingError) as raised:
        validate_listing(listing)
    assert len(str(raised.value)) < 400, "the whole message stays short"
    return {violation.field: violation.description for violation in raised.value.violations}


@pytest.mark.parametrize("hidden", ["\x00", "\x1b", "\x9b", RTL_OVERRIDE, "\u2066", "\u200b", "\n"])
def test_ids_with_control_or_bidi_characters_are_refused(hidden: str) -> None:
    listing = {**sample("s-003"), "id": f"s-003{hidden}x"}
    listing["seller"] = {**listing["seller"], "id": f"sel{hidden}1"}
    errors = contract_errors(listing)
    assert set(errors) == {"id", "seller.id"}
    assert f"U+{ord(hidden):04X}" in errors["id"]
    assert hidden not in errors["id"]


@pytest.mark.parametrize(
    "hidden",
    [
        "\u034f",
        "\ufe00",
        "\ufe0f",
        "\U000e0100",
        "\u3164",
        "\u115f",
        "\u1160",
        "\uffa0",
        "\u17b4",
        "\u17b5",
        "\u2800",
    ],
)
def test_ids_with_printable_characters_that_show_nothing_are_refused(hidden: str) -> None:
    """Variation selectors, Hangul fillers, the braille blank: `r07\u3164bk` looks like `r07bk`
    in an audit listing, so it is refused like a zero-width space (red team R07)."""
    listing = {**sample("s-003"), "id": f"r07{hidden}bk"}
    listing["seller"] = {**listing["seller"], "id": f"sel{hidden}1"}
    errors = contract_errors(listing)
    assert set(errors) == {"id", "seller.id"}
    assert f"U+{ord(hidden):04X}" in errors["id"] and "character 3" in errors["id"]


def test_ids_in_other_scripts_are_accepted() -> None:
    listing = {**sample("s-003"), "id": "annonce-é-ß-Ж-東京 42"}
    assert validate_listing(listing)["id"] == "annonce-é-ß-Ж-東京 42"


def test_long_free_text_values_are_not_echoed() -> None:
    """A seller.country holding a name and address, and an unknown key of 2 MB, are named, not repeated."""
    address = "Jean Dupont, 12 rue des Lilas, 75011 Paris, +33 6 12 34 56 78 " * 300
    listing = {**sample("s-003"), "x" * 2_000_000: 1}
    listing["seller"] = {**listing["seller"], "country": address}
    errors = contract_errors(listing)
    assert "+33 6 12" not in "".join(errors.values())
    assert "characters" in errors["seller.country"]
    assert any(len(field) < 100 for field in errors if field.startswith("x"))


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    with serving(max_message_bytes=4 * 1024 * 1024) as running:
        yield running


def test_a_2mb_as_of_gets_a_short_error_and_a_short_log_line(served: Served) -> None:
    as_of = "2025-11-20" + "9" * 2_000_000
    request = policy_service_pb2.EvaluateRequest(listing=proto_listing(sample("s-003")), as_of=as_of)
    with pytest.raises(grpc.RpcError) as raised:
        served.stub.Evaluate(request, timeout=PATIENCE, metadata=(("x-request-id", "big-as-of"),))
    error = raised.value
    assert isinstance(error, grpc.Call)
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert len(error.details() or "") < 200
    status = [value for key, value in error.trailing_metadata() or () if key == "grpc-status-details-bin"]
    assert status and len(status[0]) < 400, "the BadRequest detail quotes a few dozen characters"
    (line,) = [event for event in served.log.events("request") if event["request_id"] == "big-as-of"]
    assert len(json.dumps(line)) < 1000


def test_an_id_with_a_bidi_override_is_refused_over_grpc(served: Served) -> None:
    """The BadRequest detail names listing.id and the character, and does not carry it."""
    listing = {**sample("s-003"), "id": f"s-003{RTL_OVERRIDE}kcolb"}
    request = policy_service_pb2.EvaluateRequest(listing=proto_listing(listing))
    with pytest.raises(grpc.RpcError) as raised:
        served.stub.Evaluate(request, timeout=PATIENCE)
    error = raised.value
    assert isinstance(error, grpc.Call)
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    found = violations(error)
    assert set(found) == {"listing.id"} and "U+202E" in found["listing.id"]
    assert RTL_OVERRIDE not in (error.details() or "")


def test_logs_do_not_carry_an_id_whole(served: Served) -> None:
    listing = {**sample("s-003"), "id": "s-" + "9" * 19_000}
    served.stub.Evaluate(
        policy_service_pb2.EvaluateRequest(listing=proto_listing(listing)),
        timeout=PATIENCE,
        metadata=(("x-request-id", "long-id"),),
    )
    (line,) = [event for event in served.log.events("request") if event["request_id"] == "long-id"]
    assert len(json.dumps(line)) < 1000


def test_eval_error_lines_are_short(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    listing = {**sample("s-003"), "id": f"bad{REPAINT}"}
    listing["seller"] = {**listing["seller"], "country": "Jean Dupont, 12 rue des Lilas " * 700}
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps(listing) + "\n", encoding="utf-8")
    assert main(["eval", "--input", str(source), "--as-of", "2025-11-20"]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    result = json.loads(line)
    assert "error" in result and len(result["error"]) < 400
    assert {violation["field"] for violation in result["violations"]} == {"id", "seller.country"}


@pytest.fixture
def hostile_ids(log: VerdictLog, shipped: Evaluator) -> list[str]:
    """A verdict logged with escape sequences in its ids and caller, as a log written before
    the contract refused them would hold."""
    listing = {**sample("s-003"), "id": "s-003"}
    (record,) = records(shipped, [listing], caller=f"caller{REPAINT}")
    return log.append([replace(record, listing_id=f"s-003{REPAINT}", seller_id=f"sel{RTL_OVERRIDE}1")])


def test_audit_output_escapes_control_and_bidi_characters(
    capsys: pytest.CaptureFixture[str], log_location: str, hostile_ids: list[str]
) -> None:
    for argv in (
        ["audit", "query", "--db", log_location],
        ["audit", "show", hostile_ids[0], "--db", log_location],
        ["audit", "show", hostile_ids[0], "--db", log_location, "--json"],
        ["audit", "query", "--db", log_location, "--json"],
    ):
        assert main(argv) == 0
        out = capsys.readouterr().out
        assert "\x1b" not in out and RTL_OVERRIDE not in out, argv
        assert "s-003" in out


def test_samples_still_validate() -> None:
    """Real ids (letters, digits, dashes, spaces) are still accepted."""
    for listing in samples():
        validate_listing(listing)
