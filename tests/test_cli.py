"""The `tamis` command line, run as users run it."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tamis.engine import Bundle
from tamis.engine.jsonschema import SCHEMAS, render
from tests.conftest import POLICIES, ROOT, SHIPPED_DEFAULT_FIELDS, PackFiles, base_pack, policy

Write = Callable[[PackFiles], Path]


def tamis(*arguments: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tamis.service.cli", *arguments],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )


def test_check_reports_errors_with_file_line_and_column(write_pack: Write) -> None:
    """A broken pack: every problem on stderr as file:line:column, exit 1, nothing loaded."""
    files = base_pack(policy(when={"lexicon": "nope"}))
    result = tamis("check", str(write_pack(files)))
    assert result.returncode == 1
    assert "rules/p0.yaml:" in result.stderr and "unknown lexicon 'nope'" in result.stderr
    assert "nothing was loaded" in result.stderr


def test_check_lints(write_pack: Write) -> None:
    """A valid pack passes; a policy without examples is a warning, fatal only with --strict."""
    pack = write_pack(base_pack(policy()))
    assert tamis("check", str(pack)).returncode == 0
    strict = tamis("check", "--strict", str(pack))
    assert strict.returncode == 1 and "has 0 'match' examples" in strict.stdout


def test_test_runs_examples_and_reports_failures(write_pack: Write) -> None:
    """A failing example fails the run and names the example and why."""
    examples = {"match": [{"title": "a widget"}, {"title": "a lamp"}], "no_match": [{"title": "a lamp"}]}
    result = tamis("test", str(write_pack(base_pack(policy(examples=examples)))))
    assert result.returncode == 1
    assert "FAIL t.policy  examples 2/3" in result.stdout
    assert (
        "match[1]: expected a match" in result.stdout and "condition failed: lexicon widget" in result.stdout
    )


def test_eval_writes_one_line_per_input_line(write_pack: Write, tmp_path: Path) -> None:
    """Verdicts in order; a bad line gets an error object on its line and the run goes on."""
    lines = [
        json.dumps({"id": "a", "title": "widget", "ship_to": ["FR"]}),
        "{not json",
        json.dumps({"id": "c", "title": "lamp"}),
        json.dumps({"id": "d", "title": "lamp", "ship_to": ["FR"]}),
    ]
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(lines) + "\n")
    result = tamis(
        "eval",
        "--input",
        str(source),
        "--as-of",
        "2025-06-01",
        "--policies",
        str(write_pack(base_pack(policy()))),
    )
    assert result.returncode == 0
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o.get("decision") for o in out] == ["block", None, None, "allow"]
    assert out[1]["line"] == 2 and out[1]["error"].startswith("invalid JSON")
    assert out[2]["listing_id"] == "c" and out[2]["violations"][0]["field"] == "ship_to"
    assert out[0]["as_of"] == "2025-06-01" and out[0]["matches"][0]["grounds"][0]["article"] == "1"
    assert "done: 4 listings (2 errors)" in result.stderr


def test_explain_shows_why(write_pack: Write, tmp_path: Path) -> None:
    """Each policy is listed with its conditions and the one that failed."""
    when = {"all": [{"lexicon": "widget"}, {"field": "price.amount", "gt": 100}]}
    listing = tmp_path / "one.json"
    listing.write_text(
        json.dumps(
            {"id": "x", "title": "widget", "price": {"amount": 5, "currency": "EUR"}, "ship_to": ["FR"]}
        )
    )
    result = tamis("explain", str(listing), "--policies", str(write_pack(base_pack(policy(when=when)))))
    assert result.returncode == 0
    assert "listing x: ALLOW" in result.stdout
    # written without fields: the title, the description and the attributes the pack marks searched
    found = f"✔ lexicon widget in {SHIPPED_DEFAULT_FIELDS} — found widget"
    assert found in result.stdout
    assert "✘ price.amount > 100 (value: 5)" in result.stdout
    assert "→ condition failed: price.amount > 100 (value: 5)" in result.stdout


def test_committed_schemas_are_current(shipped_bundle: Bundle) -> None:
    """The JSON Schemas in policies/schema/ are what the model and the pack's declared attributes
    generate today (`make schema`)."""
    fields = shipped_bundle.policy_set.fields
    for name in SCHEMAS:
        committed = (POLICIES / "schema" / f"{name}.schema.json").read_text(encoding="utf-8")
        assert committed == render(name, fields), (
            f"policies/schema/{name}.schema.json is stale: run make schema"
        )


def test_the_schema_follows_the_pack_attributes(shipped_bundle: Bundle) -> None:
    """A condition's field names in the schema are the core fields and the pack's declared attributes."""

    def fields(schema: str) -> list[str]:
        enum: list[str] = json.loads(schema)["$defs"]["FieldTest"]["properties"]["field"]["enum"]
        return enum

    assert {"attributes.energy_j", "seller.country"} <= set(
        fields(render("policy", shipped_bundle.policy_set.fields))
    )
    assert "attributes.energy_j" not in fields(render("policy"))


def test_shipped_pack_passes_its_own_examples() -> None:
    """`tamis test policies` passes with full coverage."""
    result = tamis("test", "policies", "--min-coverage", "100")
    assert result.returncode == 0, result.stdout


def test_a_date_option_not_written_yyyy_mm_dd_is_refused_with_the_reason() -> None:
    """`--as-of 20251120` would be read by Python as a date; the CLI says what it expects."""
    result = tamis("eval", "--as-of", "20251120")
    assert result.returncode == 2
    assert "--as-of: expected a date YYYY-MM-DD, got '20251120'" in result.stderr
