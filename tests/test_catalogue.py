"""The committed catalogue is what the pack renders, and the `docs` command writes and checks it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tamis.engine import Bundle
from tamis.engine.catalogue import families, family_of, render_catalogue
from tamis.engine.model import Policy
from tamis.service.cli import main
from tests.conftest import POLICIES, PackFiles, base_pack, policy

CATALOGUE = POLICIES / "CATALOGUE.md"


def test_committed_catalogue_is_current(shipped_bundle: Bundle) -> None:
    """policies/CATALOGUE.md equals a fresh rendering of the pack (run `tamis docs` after a change)."""
    assert CATALOGUE.read_text(encoding="utf-8") == render_catalogue(shipped_bundle.policy_set)


def test_catalogue_shows_every_policy_with_its_decision(shipped_bundle: Bundle) -> None:
    """Every policy appears once, under its family, with its decision and each cited instrument."""
    text = render_catalogue(shipped_bundle.policy_set)
    for name, policies in families(shipped_bundle.policy_set).items():
        assert f"## {name}\n" in text
        for item in policies:
            section = text.split(f"### `{item.id}`\n", 1)[1].split("\n### ", 1)[0]
            assert text.count(f"### `{item.id}`\n") == 1
            assert f"- Decision: **{item.decision}**" in section
            for ground in item.grounds:
                assert f"art. {ground.article} ([{ground.instrument}]" in section


def test_family_comes_from_tag_then_folder() -> None:
    """A `family:` tag names the family; without one, the policy's folder does."""
    tagged = policy(tags=["family:weapons", "other"])
    untagged = policy()
    assert family_of(Policy.model_validate(tagged), "knives/a.yaml") == "weapons"
    assert family_of(Policy.model_validate(untagged), "knives/a.yaml") == "knives"


def test_docs_command_writes_then_checks(write_pack: Callable[[PackFiles], Path], tmp_path: Path) -> None:
    """`tamis docs` writes the file; `--check` passes on it and fails once the file is stale."""
    root = write_pack(base_pack(policy("t.one", tags=["family:widgets"])))
    out = tmp_path / "CATALOGUE.md"
    assert main(["docs", str(root), "--out", str(out)]) == 0
    assert "### `t.one`" in out.read_text(encoding="utf-8")
    assert "## widgets" in out.read_text(encoding="utf-8")
    assert main(["docs", str(root), "--out", str(out), "--check"]) == 0
    out.write_text("stale\n", encoding="utf-8")
    assert main(["docs", str(root), "--out", str(out), "--check"]) == 1
