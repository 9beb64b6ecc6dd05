"""Bundles are named by the digest of their sources: equal sources, equal digests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tamis.engine import Evaluator, ListingError, load_bundle
from tamis.engine.durable import DurableRuleset, EngineError
from tamis.engine.sources import bundle_digest, read_tree
from tests.conftest import PackFiles, base_pack, policy

Write = Callable[[PackFiles], Path]


def test_equal_sources_give_equal_digests(write_pack: Write, tmp_path: Path) -> None:
    """The digest depends on file names and contents only, not on line endings or order."""
    root = write_pack(base_pack(policy()))
    tree = read_tree(root)
    shuffled = dict(reversed(list(tree.items())))
    assert bundle_digest(tree) == bundle_digest(shuffled) == load_bundle(root).digest
    name = next(iter(tree))
    (root / name).write_bytes(tree[name].replace(b"\n", b"\r\n"))
    assert bundle_digest(read_tree(root)) == bundle_digest(tree)


def test_any_change_gives_a_new_digest(write_pack: Write) -> None:
    """One changed byte, or a renamed file, is another bundle."""
    tree = read_tree(write_pack(base_pack(policy())))
    name = next(iter(tree))
    changed = {**tree, name: tree[name] + b"# comment\n"}
    renamed = {("x" + key if key == name else key): value for key, value in tree.items()}
    assert len({bundle_digest(tree), bundle_digest(changed), bundle_digest(renamed)}) == 3


def test_a_bundle_rebuilds_from_its_stored_sources(write_pack: Write) -> None:
    """Sources kept elsewhere (e.g. a verdict log) load into the same bundle."""
    bundle = load_bundle(write_pack(base_pack(policy())))
    again = load_bundle(dict(bundle.sources))
    assert again.digest == bundle.digest
    listing = {"id": "x", "title": "widget", "ship_to": ["FR"]}
    assert Evaluator(again).evaluate(listing).matches == Evaluator(bundle).evaluate(listing).matches


def test_a_closed_ruleset_refuses_work() -> None:
    """Using a ruleset after it was freed is an error, not a crash of the C engine."""
    ruleset = DurableRuleset("t", {"r": {"all": [{"m": {"x": 1}}]}})
    assert ruleset.fire([{"id": 1, "x": 1}]) == {1: {"r"}}
    ruleset.close()
    with pytest.raises(EngineError, match="closed"):
        ruleset.fire([{"id": 2, "x": 1}])


def test_too_many_signals_is_a_clear_error() -> None:
    """The C engine's property limit is checked before it is reached."""
    ruleset = DurableRuleset("t", {"r": {"all": [{"m": {"x": 1}}]}})
    with pytest.raises(EngineError, match="signals"):
        ruleset.fire([{"id": 1, **{f"s{n}": 1 for n in range(300)}}])


def test_a_listing_with_too_many_signals_fails_alone(write_pack: Write) -> None:
    """One listing that would overflow the engine gets its own error; its batch goes on."""
    files = base_pack()
    for number in range(260):
        files[f"lexicons/l{number}.yaml"] = {"lexicon": f"l{number}", "terms": {"en": [f"w{number}x"]}}
        files[f"rules/p{number}.yaml"] = policy(f"t.p{number}", when={"lexicon": f"l{number}"})
    evaluator = Evaluator(load_bundle(write_pack(files)))
    crowded = {"id": "a", "title": " ".join(f"w{n}x" for n in range(260)), "ship_to": ["FR"]}
    plain = {"id": "b", "title": "w3x", "ship_to": ["FR"]}
    error, verdict = evaluator.evaluate_many([crowded, plain])
    assert isinstance(error, ListingError) and error.too_large and "signals" in str(error)
    assert [m.policy for m in verdict.matches] == ["t.p3"]  # type: ignore[union-attr]
