"""`tamis diff` and `tamis backtest` on real packs (the shipped one, copied and edited) and on a
real verdict log written by the real server."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml

from tamis.engine import load_bundle
from tamis.engine.diff import diff_bundles
from tamis.service.cli import main
from tamis.v1 import policy_service_pb2
from tests.conftest import POLICIES, SHIPPED_DEFAULT_FIELDS
from tests.test_server_harness import PATIENCE, proto_listing, sample
from tests.test_verdictlog_server import logged_server

pytest_plugins = ["tests.test_verdictlog_support"]

POUCH_BAN = "fr.decret-2025-898.nicotine-pouch"
POUCH_FILE = "tobacco/fr-nicotine-pouches.yaml"
POUCHES = {"id": "np-1", "title": "ZYN Cool Mint 6 mg, 20 nicotine pouches", "ship_to": ["FR"]}
DATED = ("--input", "{listings}", "--baseline-as-of", "2026-01-01")
HOSTILE_ID = "evil\x1b[2J\u202eid"
SECOND_POUCH = "np-2"


@pytest.fixture
def pack(tmp_path: Path) -> Path:
    copy = tmp_path / "pack"
    shutil.copytree(POLICIES, copy)
    return copy


def edit(pack: Path, name: str, change: Any) -> None:
    path = pack / name
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def ban_from_march(pack: Path) -> None:
    """The pouch ban in force from 1 March 2026 instead of 1 April (its examples follow)."""

    def change(policy: dict[str, Any]) -> None:
        policy["in_force"] = {"from": "2026-03-01"}
        policy["examples"]["no_match"] = [e for e in policy["examples"]["no_match"] if "as_of" not in e]

    edit(pack, POUCH_FILE, change)


def run(capsys: pytest.CaptureFixture[str], *arguments: str) -> tuple[int, str, str]:
    code = main(list(arguments))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# --- tamis diff ---------------------------------------------------------------------------------


def test_diff_names_each_changed_policy_field_condition_ground_and_term(pack: Path) -> None:
    added_at: list[int] = []

    def change(policy: dict[str, Any]) -> None:
        policy["decision"] = "flag"
        policy["grounds"].append({"instrument": "legitext:LEGITEXT000006072665", "article": "L3513-5"})
        added_at.append(len(policy["unless"]))
        policy["unless"].append({"lexicon": "not_tobacco"})

    edit(pack, POUCH_FILE, change)
    edit(
        pack, "lexicons/nicotine_pouch.yaml", lambda lexicon: lexicon["terms"]["fr"].append("pochon nicotiné")
    )
    difference = diff_bundles(load_bundle(POLICIES), load_bundle(pack))
    assert not difference.empty
    assert difference.policies_added == difference.policies_removed == []
    (policy,) = difference.policies_changed
    assert policy.policy == POUCH_BAN
    assert policy.fields == {"decision": ("block", "flag")}
    assert policy.grounds_added == ["legitext:LEGITEXT000006072665 art. L3513-5"]
    added = f"unless[{added_at[0]}]: lexicon not_tobacco in {SHIPPED_DEFAULT_FIELDS}"
    assert policy.conditions_added == [added]
    assert policy.conditions_removed == []
    (lexicon,) = difference.lexicons_changed
    assert (lexicon.name, lexicon.added, lexicon.removed) == ("nicotine_pouch", ["fr: pochon nicotiné"], [])


def test_diff_exit_status_says_whether_packs_differ(pack: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "diff", str(POLICIES), str(pack))
    assert code == 0
    assert "identical sources" in out
    (pack / POUCH_FILE).unlink()
    code, out, _ = run(capsys, "diff", str(POLICIES), str(pack), "--json")
    assert code == 1
    assert json.loads(out)["policies"]["removed"] == [POUCH_BAN]
    (pack / "broken.yaml").write_text("id: [", encoding="utf-8")
    assert run(capsys, "diff", str(POLICIES), str(pack))[0] == 2


# --- tamis backtest on a catalogue ---------------------------------------------------------------


def catalogue(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "listings.jsonl"
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def test_the_same_pack_at_two_dates_shows_the_pouch_ban_coming_into_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    listings = catalogue(
        tmp_path,
        json.dumps(POUCHES),
        json.dumps(sample("s-003")),
        json.dumps(sample("s-002")),
        "not json",
        json.dumps({**POUCHES, "id": "huge", "description": "x" * 300_000}),
    )
    out_file = tmp_path / "changes.json"
    code, out, err = run(
        capsys,
        "backtest",
        "--input", str(listings),
        "--as-of", "2026-04-01",
        "--baseline-as-of", "2026-03-31",
        "--json", str(out_file),
        "--fail-on", "new-blocks",
    )  # fmt: skip
    assert code == 1
    assert "--fail-on new-blocks: 1 listing(s)" in err
    assert "done: 5 listings" in err  # progress on stderr
    assert "backtest: 3 listings, 1 changed (2 lines skipped: not JSON, or too large)" in out
    assert f"+1       -0       ~0       {POUCH_BAN}" in out
    assert "flag -> block: listing 'np-1' (line 1)" in out
    assert "title[0:3] 'ZYN' (nicotine_pouch)" in out  # evidence of the example (its first three lines)
    report = json.loads(out_file.read_text(encoding="utf-8"))
    (change,) = report["changed"]
    assert (change["listing_id"], change["before"]["decision"], change["after"]["decision"]) == (
        "np-1",
        "flag",
        "block",
    )
    assert change["newly_matched"] == [POUCH_BAN]
    assert report["summary"]["gates"]["new-blocks"] == 1
    assert report["skipped_lines"] == 2


def test_a_pack_change_against_the_shipped_pack(
    tmp_path: Path, pack: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ban_from_march(pack)
    listings = catalogue(tmp_path, json.dumps(POUCHES), json.dumps(sample("s-003")))
    arguments = ["backtest", "--input", str(listings), "--policies", str(pack), "--as-of", "2026-03-15"]
    code, out, _ = run(capsys, *arguments, "--baseline", str(POLICIES), "--fail-on", "released-blocks")
    assert code == 0  # nothing released: the gate holds
    assert out.startswith(f"pack diff {load_bundle(POLICIES).digest} -> {load_bundle(pack).digest}")
    assert "in_force: {'from': '2026-04-01'} -> {'from': '2026-03-01'}" in out
    assert "backtest: 2 listings, 1 changed" in out
    # the other way round, the same change releases a block
    code, out, _ = run(
        capsys, *arguments[:3], "--policies", str(POLICIES), "--as-of", "2026-03-15", "--baseline", str(pack),
        "--fail-on", "released-blocks",
    )  # fmt: skip
    assert code == 1
    assert f"-1       ~0       {POUCH_BAN}" in out


def test_a_new_ground_changes_listings_without_changing_their_decision(
    tmp_path: Path, pack: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def change(policy: dict[str, Any]) -> None:
        policy["grounds"].append({"instrument": "legitext:LEGITEXT000006072665", "article": "L3513-5"})

    edit(pack, POUCH_FILE, change)
    listings = catalogue(tmp_path, json.dumps(POUCHES))
    code, out, _ = run(
        capsys, "backtest", "--input", str(listings), "--policies", str(pack), "--baseline", str(POLICIES),
        "--as-of", "2026-04-01", "--fail-on", "new-blocks", "--fail-on", "released-blocks",
    )  # fmt: skip
    assert code == 0  # blocked before and after
    assert "backtest: 1 listings, 1 changed" in out
    assert f"+0       -0       ~1       {POUCH_BAN}" in out
    assert "block -> block: listing 'np-1'" in out
    assert "art. L5132-8 -> block on" in out and "legitext:LEGITEXT000006072665 art. L3513-5" in out


# --- tamis backtest on the verdict log -----------------------------------------------------------


@pytest.fixture
def logged(log_location: str) -> str:
    """A log (SQLite or PostgreSQL) written by the real server: two ordinary listings and two
    pouch listings, judged on 15 March 2026, when pouches were flagged. A listing whose id holds
    terminal escapes is refused at the contract, so it never reaches the log (nor a report)."""
    location = log_location
    with logged_server(location) as served:
        for listing in (sample("s-003"), sample("s-002"), POUCHES, {**POUCHES, "id": SECOND_POUCH}):
            request = policy_service_pb2.EvaluateRequest(listing=proto_listing(listing), as_of="2026-03-15")
            served.stub.Evaluate(request, timeout=PATIENCE)
        hostile = policy_service_pb2.EvaluateRequest(listing=proto_listing({**POUCHES, "id": HOSTILE_ID}))
        with pytest.raises(grpc.RpcError) as refused:
            served.stub.Evaluate(hostile, timeout=PATIENCE)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    return location


def test_logged_requests_against_the_verdicts_as_logged(
    logged: str, tmp_path: Path, pack: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ban_from_march(pack)
    out_file = tmp_path / "changes.json"
    code, out, _ = run(
        capsys, "backtest", "--log", logged, "--policies", str(pack), "--json", str(out_file),
        "--fail-on", "new-blocks", "--fail-on", "released-blocks",
    )  # fmt: skip
    assert code == 1
    assert "(the bundle of 4 logged verdicts)" in out  # the diff against the bundle that judged them
    assert "backtest: 4 listings, 2 changed" in out
    assert "baseline:  the verdicts as logged" in out
    report = json.loads(out_file.read_text(encoding="utf-8"))
    assert {change["listing_id"] for change in report["changed"]} == {"np-1", SECOND_POUCH}
    assert all(change["key"].startswith("verdict ") for change in report["changed"])
    assert all(change["after"]["as_of"] == "2026-03-15" for change in report["changed"])  # the logged date
    assert report["summary"]["gates"] == {
        "new-blocks": 2, "released-blocks": 0, "new-flags": 0, "released-flags": 0, "any": 2,
    }  # fmt: skip


def test_log_filters_a_stored_digest_and_an_empty_selection(
    logged: str, pack: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ban_from_march(pack)
    digest = load_bundle(POLICIES).digest
    base = ["backtest", "--log", logged, "--policies", str(pack)]
    code, out, _ = run(
        capsys, *base, "--listing", "np-1", "--baseline", digest, "--baseline-as-of", "2026-03-15"
    )
    assert code == 0
    assert "backtest: 1 listings, 1 changed" in out
    assert f"baseline:  {digest} as of 2026-03-15" in out
    code, out, _ = run(capsys, *base, "--since", "2099-01-01")
    assert code == 0
    assert "no listings to compare" in out
    code, _, err = run(capsys, *base, "--baseline", "sha256:" + "0" * 64)
    assert code == 2
    assert "is not stored in the log" in err


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--input", "{listings}"], "nothing to compare with"),
        (["--input", "{listings}", "--baseline", "logged"], "reads the verdict log: give --log"),
        (["--input", "{listings}", "--baseline-as-of", "2026-01-01", "--seller", "x"], "--seller filters"),
        (["--log", "{log}", "--baseline-as-of", "2026-01-01"], "judged as of their own dates"),
        (["--input", "{tmp}/missing.jsonl", "--baseline-as-of", "2026-01-01"], "input file not found"),
        (["--log", "{tmp}/none.sqlite3"], "no verdict log at"),
        ([*DATED, "--json", "{tmp}/" + "x" * 5000], "cannot write --json"),
        ([*DATED, "--json", "{tmp}/no/such/dir.json"], "cannot write --json"),
        ([*DATED, "--json", "{listings}"], "would overwrite the --input file"),
    ],
)  # fmt: skip
def test_bad_arguments_exit_2_with_one_bounded_line(
    arguments: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    listings = catalogue(tmp_path, json.dumps(POUCHES))
    log = tmp_path / "empty.sqlite3"
    filled = [a.format(listings=listings, log=log, tmp=tmp_path) for a in arguments]
    code, out, err = run(capsys, "backtest", *filled)
    assert code == 2
    assert message in err
    assert len(err) < 600 and out == ""


def test_a_log_with_no_verdicts_yet(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    location = f"sqlite:{tmp_path / 'verdicts.sqlite3'}"
    with logged_server(location):
        pass
    code, out, _ = run(capsys, "backtest", "--log", location, "--fail-on", "any")
    assert code == 0
    assert "backtest: 0 listings, 0 changed" in out
