"""Named conditions (conditions.yaml): a test several policies share is written once, judged as
if it were written out in each, and an error in it or in its use is located where it is written."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest

from tamis.engine import Evaluator, PolicySetError, load_bundle
from tamis.engine.lint import lint
from tests.conftest import PackFiles, base_pack, lexicon, policy

Write = Callable[[PackFiles], Path]
DAY = date(2025, 6, 1)

#: "A widget, unless it is a toy", declared once.
SHARED = {
    "conditions": {
        "adult_widget": {
            "description": "A widget that is not a toy.",
            "when": {"all": [{"lexicon": "widget"}, {"not": {"lexicon": "toy"}}]},
        }
    }
}
TOY = lexicon("toy", en=["toy"])


def pack(*policies: dict[str, object], conditions: object = SHARED) -> PackFiles:
    return base_pack(*policies, **{"lexicons/toy.yaml": TOY, "conditions.yaml": conditions})


def problems_of(write_pack: Write, files: PackFiles) -> list[str]:
    with pytest.raises(PolicySetError) as raised:
        load_bundle(write_pack(files))
    return [str(problem) for problem in raised.value.problems]


def test_a_named_condition_judges_as_the_tree_it_names(write_pack: Write) -> None:
    """Used by name, in `when` and inside `not`, it gives the verdicts of the written-out tree."""
    by_name = Evaluator(
        load_bundle(
            write_pack(
                pack(
                    policy("t.named", when={"condition": "adult_widget"}),
                    policy(
                        "t.not_named",
                        when={"all": [{"lexicon": "toy"}, {"not": {"condition": "adult_widget"}}]},
                    ),
                )
            )
        )
    )
    titles = ["a widget", "a toy widget", "a toy", "nothing"]
    assert [
        [m.policy for m in by_name.evaluate({"id": "l", "title": t, "ship_to": ["FR"]}, DAY).matches]
        for t in titles
    ] == [
        ["t.named"],
        ["t.not_named"],
        ["t.not_named"],
        [],
    ]


def test_a_loaded_policy_holds_the_written_out_tree(write_pack: Write) -> None:
    """Compiler, explain, coverage and diff see the tree, never the name."""
    bundle = load_bundle(write_pack(pack(policy(when={"condition": "adult_widget"}))))
    assert (
        bundle.policy_set.policies[0].when
        == load_bundle(
            write_pack(pack(policy(when=SHARED["conditions"]["adult_widget"]["when"])))  # type: ignore[index]
        )
        .policy_set.policies[0]
        .when
    )


def test_an_unknown_name_is_located_where_it_is_used(write_pack: Write) -> None:
    [found] = problems_of(
        write_pack, pack(policy(when={"any": [{"lexicon": "widget"}, {"condition": "adult_widgte"}]}))
    )
    assert found.startswith("rules/p0.yaml:")
    assert "unknown condition 'adult_widgte' (conditions.yaml declares: adult_widget)" in found
    assert "when.any[1].condition" in found


def test_an_error_inside_a_named_condition_is_located_in_conditions_yaml_once(write_pack: Write) -> None:
    """Two policies use a shared condition naming an unknown lexicon: one error, where it is written."""
    broken = {"conditions": {"adult_widget": {"description": "d", "when": {"lexicon": "widgte"}}}}
    found = problems_of(
        write_pack,
        pack(
            policy("t.a", when={"condition": "adult_widget"}),
            policy("t.b", when={"condition": "adult_widget"}),
            conditions=broken,
        ),
    )
    assert len(found) == 1
    assert found[0].startswith("conditions.yaml:") and "unknown lexicon 'widgte'" in found[0]


def test_a_named_condition_cannot_use_another(write_pack: Write) -> None:
    """One level only: no chains to follow, no cycles."""
    nested = {
        "conditions": {
            "a": {"description": "d", "when": {"condition": "b"}},
            "b": {"description": "d", "when": {"lexicon": "widget"}},
        }
    }
    [found] = problems_of(write_pack, pack(policy(when={"condition": "a"}), conditions=nested))
    assert found.startswith("conditions.yaml:") and "a named condition cannot use another one" in found


def test_a_named_condition_needs_a_description(write_pack: Write) -> None:
    bare = {"conditions": {"adult_widget": {"when": {"lexicon": "widget"}}}}
    found = problems_of(write_pack, pack(policy(when={"condition": "adult_widget"}), conditions=bare))
    assert found[0].startswith("conditions.yaml:2:") and "missing required key 'description'" in found[0]


def test_a_name_used_thousands_of_times_is_refused_not_expanded(write_pack: Write) -> None:
    """Two small files must not write out to billions of tests: the policy is refused, located."""
    wide = {"conditions": {"w": {"description": "d", "when": {"any": [{"lexicon": "widget"}] * 400}}}}
    many = policy(when={"any": [{"condition": "w"}] * 400})
    found = problems_of(write_pack, pack(many, conditions=wide))
    assert any(line.startswith("rules/p0.yaml:") and "more than 10,000 tests" in line for line in found)


def test_lint_warns_of_a_named_condition_no_policy_uses(write_pack: Write) -> None:
    """Declared but used by no policy: a warning located at its name in conditions.yaml."""
    unused = lint(load_bundle(write_pack(pack(policy()))).policy_set, DAY)
    used = lint(load_bundle(write_pack(pack(policy(when={"condition": "adult_widget"})))).policy_set, DAY)
    [warning] = [w for w in unused if "adult_widget" in w.message]
    assert warning.message == "condition 'adult_widget' is not used"
    assert warning.location.startswith("conditions.yaml:")
    assert not any("adult_widget" in w.message for w in used)
