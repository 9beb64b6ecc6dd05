"""`tamis audit`: query, show, verify and replay from the command line, on both backends."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tamis.engine import Evaluator
from tamis.service.cli import main
from tamis.service.verdictlog import AuditLog, VerdictLog, VerdictQuery
from tests.test_verdictlog_support import records, tamper

pytest_plugins = ["tests.test_verdictlog_support"]


@pytest.fixture
def ids(log: VerdictLog, shipped: Evaluator) -> list[str]:
    """The samples' verdicts, logged."""
    return log.append(records(shipped))


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_query_prints_a_table_newest_first(
    capsys: pytest.CaptureFixture[str], log_location: str, audit: AuditLog, ids: list[str]
) -> None:
    """A header, then a line per verdict: id, time, decision, listing, seller, policies."""
    code, out, _ = _run(capsys, "audit", "query", "--db", log_location, "--decision", "block")
    lines = out.splitlines()
    expected = audit.query(VerdictQuery(decision="block")).verdicts
    assert code == 0
    assert lines[0].split() == ["VERDICT", "ID", "TIME", "(UTC)", "DECISION", "LISTING", "SELLER", "POLICIES"]
    assert [line.split()[0] for line in lines[1:]] == [verdict.id for verdict in expected]
    snus = next(line for line in lines if " s-009 " in line)
    assert snus.split()[3:] == [
        "block",
        "s-009",
        "sel-15",
        "eu.tpd.17.snus,",
        "fr.cgi.568-ter.tobacco-distance-sale,",
        "eu.dsa.30-31.trader-traceability",
    ]


def test_query_pages_with_a_cursor(
    capsys: pytest.CaptureFixture[str], log_location: str, ids: list[str]
) -> None:
    """--limit cuts a page and prints the cursor; --after it gives the next, older verdicts."""
    _, first, _ = _run(capsys, "audit", "query", "--db", log_location, "--limit", "5")
    cursor = first.splitlines()[-1].removeprefix("more: --after ")
    _, second, _ = _run(capsys, "audit", "query", "--db", log_location, "--limit", "50", "--after", cursor)
    listed = [line.split()[0] for line in first.splitlines()[1:6] + second.splitlines()[1:]]
    assert listed == sorted(ids, reverse=True)
    assert "more:" not in second


def test_query_filters_and_json_match_the_library(
    capsys: pytest.CaptureFixture[str], log_location: str, audit: AuditLog, ids: list[str]
) -> None:
    """Every filter option reaches the query; --json prints the verdicts and the cursor."""
    code, out, _ = _run(
        capsys,
        *("audit", "query", "--db", log_location, "--json", "--limit", "1"),
        *("--policy", "eu.dsa.30-31.trader-traceability", "--instrument", "celex:32014L0040"),
        *("--article", "17", "--seller", "sel-15", "--listing", "s-009", "--decision", "block"),
        *("--since", "2000-01-01", "--until", "2999-01-01T00:00:00+01:00"),
    )
    page = json.loads(out)
    [snus] = audit.query(VerdictQuery(listing_id="s-009")).verdicts
    assert code == 0
    assert page == {"verdicts": [snus.to_dict()], "next_page_token": ""}


def test_show_prints_one_verdict(
    capsys: pytest.CaptureFixture[str], log_location: str, ids: list[str]
) -> None:
    """The verdict with its grounds, evidence, chain position and request; --json the full record."""
    snus = ids[8]
    code, out, _ = _run(capsys, "audit", "show", "--db", log_location, snus)
    assert code == 0
    assert f"verdict   {snus}" in out
    assert "celex:32014L0040 art. 17" in out
    assert "evidence title[0:4] 'Snus' (snus)" in out
    _, out, _ = _run(capsys, "audit", "show", "--db", log_location, "--json", snus)
    assert json.loads(json.loads(out)["canonical_request"])["id"] == "s-009"


def test_show_an_unknown_id_fails(
    capsys: pytest.CaptureFixture[str], log_location: str, ids: list[str]
) -> None:
    """An id that was never logged: exit 1 and a message; an id that is not a UUIDv7: exit 2."""
    code, _, err = _run(capsys, "audit", "show", "--db", log_location, "01890000-0000-7000-8000-000000000000")
    assert (code, err) == (1, "tamis: no verdict 01890000-0000-7000-8000-000000000000 in the log\n")
    code, _, err = _run(capsys, "audit", "show", "--db", log_location, "s-001")
    assert (code, err) == (2, "tamis: not a verdict id: 's-001'\n")


def test_verify_passes_then_names_a_tampered_record(
    capsys: pytest.CaptureFixture[str], log_location: str, ids: list[str]
) -> None:
    """verify exits 0 on an intact log, 1 naming the record once one is changed."""
    code, out, _ = _run(capsys, "audit", "verify", "--db", log_location)
    assert code == 0
    assert out.startswith("ok: 12 verdicts in 1 chain(s), 1 bundle(s)")
    tamper(log_location, ("UPDATE verdicts SET listing_id = 'other' WHERE id = ?", (ids[3],)))
    code, out, _ = _run(capsys, "audit", "verify", "--db", log_location)
    assert code == 1
    assert out.startswith("FAILED")
    assert f"  bad: verdict {ids[3]}, writer " in out
    _, out, _ = _run(capsys, "audit", "verify", "--db", log_location, "--json")
    assert json.loads(out)["problems"][0]["verdict_id"] == ids[3]


def test_replay_says_identical_or_what_differs(
    capsys: pytest.CaptureFixture[str], log_location: str, ids: list[str]
) -> None:
    """An intact verdict replays identical (exit 0); a falsified one is DIFFERENT (exit 1)."""
    code, out, _ = _run(capsys, "audit", "replay", "--db", log_location, ids[0])
    assert code == 0
    assert out.startswith("identical: block on the same grounds, as of 2025-11-20")
    tamper(log_location, ("UPDATE verdicts SET decision = 'flag' WHERE id = ?", (ids[0],)))
    code, out, _ = _run(capsys, "audit", "replay", "--db", log_location, ids[0])
    assert code == 1
    assert out.splitlines() == [
        "DIFFERENT (decision differs, grounds same):",
        "  decision: flag then, block on replay",
    ]


def test_the_log_location_defaults_to_the_environment(
    capsys: pytest.CaptureFixture[str], log_location: str, ids: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without --db, $TAMIS_LOG_DSN names the log."""
    monkeypatch.setenv("TAMIS_LOG_DSN", log_location)
    code, out, _ = _run(capsys, "audit", "verify")
    assert code == 0
    assert out.startswith("ok: 12 verdicts")


def test_a_missing_sqlite_log_is_an_error_not_a_new_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Reading a log that does not exist says so and creates nothing."""
    missing = tmp_path / "nowhere.sqlite3"
    code, _, err = _run(capsys, "audit", "query", "--db", str(missing))
    assert (code, err) == (1, f"tamis: no verdict log at {missing}\n")
    assert not missing.exists()


def test_bad_arguments_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """An article without its instrument, or a time that is not one, is refused before any read."""
    code, _, err = _run(capsys, "audit", "query", "--db", str(tmp_path / "x.sqlite3"), "--article", "17")
    assert (code, err) == (2, "tamis: an article filter needs its instrument\n")
    with pytest.raises(SystemExit) as exit_info:
        main(["audit", "query", "--since", "yesterday"])
    assert exit_info.value.code == 2


def test_a_database_without_a_log_is_an_error(capsys: pytest.CaptureFixture[str], log_location: str) -> None:
    """Pointing --db at an empty database (a mistyped schema, say) says so and creates nothing."""
    code, _, err = _run(capsys, "audit", "verify", "--db", log_location)
    assert code == 1
    assert err.startswith("tamis: no verdict log ")
    code, _, _ = _run(capsys, "audit", "verify", "--db", log_location)
    assert code == 1  # still nothing there
