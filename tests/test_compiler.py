"""Compilation to durable-rules: one plain conjunction per alternative, signals first, lazy
costly signals, buckets for large packs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from tamis.engine import Evaluator, load_bundle
from tamis.engine.compiler import ANCHOR_LIMIT
from tests.conftest import PackFiles, base_pack, lexicon, policy

Write = Callable[[PackFiles], Path]


def rules_of(write_pack: Write, when: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return load_bundle(write_pack(base_pack(policy(when=when), **extra))).program.ruleset


def test_alternatives_become_separate_rules(write_pack: Write) -> None:
    """`any` of two lexicons compiles to two rules, each a conjunction starting with its signal."""
    extra = {"lexicons/gadget.yaml": lexicon("gadget", en=["gadget"])}
    ruleset = rules_of(write_pack, {"any": [{"lexicon": "widget"}, {"lexicon": "gadget"}]}, **extra)
    assert sorted(ruleset) == ["p0.0", "p0.1"]
    for rule in ruleset.values():
        tests = rule["all"][0]["m"]["$and"]
        assert next(iter(tests[0])).startswith("x")  # the rarest test comes first
        assert {"j0": 1} in tests  # jurisdiction


def test_negated_comparison_keeps_absent_values(write_pack: Write) -> None:
    """not(height < 130) is `height absent` or `height >= 130`: two alternatives."""
    when = {"all": [{"lexicon": "widget"}, {"not": {"field": "attributes.height_cm", "lt": 130}}]}
    ruleset = rules_of(write_pack, when)
    tests = [rule["all"][0]["m"]["$and"] for rule in ruleset.values()]
    assert any({"$nex": {"f0": 1}} in conjunction for conjunction in tests)
    assert any({"$gte": {"f0": 130.0}} in conjunction for conjunction in tests)


def test_contradictions_are_dropped(write_pack: Write) -> None:
    """`widget and not widget` compiles to no rule at all."""
    ruleset = rules_of(write_pack, {"all": [{"lexicon": "widget"}, {"not": {"lexicon": "widget"}}]})
    assert ruleset == {}


def test_regexes_run_only_when_a_rule_could_use_them(write_pack: Write) -> None:
    """A regex beside a lexicon is computed only when that lexicon was found; alone, always."""
    when = {"any": [{"all": [{"lexicon": "widget"}, {"regex": "zulu"}]}, {"regex": "kilo"}]}
    plan = load_bundle(write_pack(base_pack(policy(when=when)))).program.plan
    assert plan.pattern_triggers == {"zulu": frozenset({frozenset({"x0"})}), "kilo": None}


def test_a_regex_waits_for_every_signal_its_rule_needs(write_pack: Write) -> None:
    """Beside two lexicons, a regex runs only when both were found (a rule needs them all), and
    the verdict is the one a fact with every signal computed gives."""
    when = {"all": [{"lexicon": "widget"}, {"lexicon": "gadget"}, {"regex": "zulu"}]}
    files = base_pack(policy(when=when), **{"lexicons/gadget.yaml": lexicon("gadget", en=["gadget"])})
    bundle = load_bundle(write_pack(files))
    (needs,) = bundle.program.plan.pattern_triggers["zulu"] or ()
    assert len(needs) == 2
    evaluator = Evaluator(bundle)
    try:
        for title, matched in [("widget zulu", False), ("gadget zulu", False), ("widget gadget zulu", True)]:
            listing = {"id": "l1", "title": title, "ship_to": ["FR"]}
            assert bool(evaluator.evaluate(listing).matches) is matched, title
    finally:
        evaluator.close()


def test_large_packs_are_grouped_behind_buckets(write_pack: Write) -> None:
    """Past the anchor limit, rules hang behind bucket flags and still match exactly."""
    count = ANCHOR_LIMIT + 50
    files: PackFiles = base_pack()
    for number in range(count):
        files[f"lexicons/l{number}.yaml"] = lexicon(f"l{number}", en=[f"term{number}x"])
        files[f"rules/p{number}.yaml"] = policy(f"t.p{number}", when={"lexicon": f"l{number}"})
    bundle = load_bundle(write_pack(files))
    assert bundle.program.plan.buckets
    first = {next(iter(rule["all"][0]["m"]["$and"][0])) for rule in bundle.program.ruleset.values()}
    assert all(name.startswith("b") for name in first) and len(first) < ANCHOR_LIMIT
    evaluator = Evaluator(bundle)
    verdict = evaluator.evaluate({"id": "x", "title": "term7x and term233x", "ship_to": ["FR"]})
    assert [m.policy for m in verdict.matches] == ["t.p233", "t.p7"]
