"""Attributes are declared by the pack (attributes.yaml): a new one, and a policy on it, need no
change to the engine; the shipped pack decides airsoft energies and GPSR art. 19 on its own."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from tamis.engine import Evaluator, ListingError, PolicySetError, load_bundle
from tests.conftest import PackFiles, base_pack, policy
from tests.test_cli import tamis

Write = Callable[[PackFiles], Path]
DAY = date(2025, 6, 1)

#: An attribute the engine has never heard of: a battery's energy, stated or written in text.
BATTERY = {
    "attributes": {
        "battery_wh": {
            "type": "number",
            "unit": "Wh",
            "description": "Energy of a lithium battery, in watt-hours.",
            "aliases": ["capacite_wh", "battery_energy"],
            "from_text": [
                {"patterns": [r"(?<!\d)(\d{1,6}(?:[.,]\d{1,3})?)\s*wh\b"]},
                {"patterns": [r"(?<!\d)(\d{1,3}(?:[.,]\d{1,3})?)\s*kwh\b"], "scale": 1000},
            ],
        },
        "chemistry": {
            "type": "text",
            "description": "Cell chemistry.",
            "values": ["Li-ion", "LiFePO4", "NiMH"],
        },
    }
}
BIG_BATTERY = policy(
    "t.big-battery",
    decision="flag",
    when={
        "all": [
            {"field": "attributes.battery_wh", "gt": 100},
            {"field": "attributes.chemistry", "equals": "Li-ion"},
        ]
    },
    examples={
        "match": [{"title": "Power station", "attributes": {"battery_energy": 300, "chemistry": "li-ion"}}],
        "no_match": [{"title": "Power station", "attributes": {"battery_wh": 300, "chemistry": "NiMH"}}],
    },
)


def judge(evaluator: Evaluator, title: str, **attributes: Any) -> list[str]:
    listing = {"id": "l1", "title": title, "ship_to": ["FR"], "attributes": attributes}
    return [match.policy for match in evaluator.evaluate(listing, DAY).matches]


def test_a_new_attribute_and_its_policy_are_data_only(write_pack: Write) -> None:
    """A pack declaring battery_wh (aliases, kWh read as Wh) and a policy testing it is judged,
    tested and checked with the engine as it is."""
    pack = write_pack(base_pack(BIG_BATTERY, **{"attributes.yaml": BATTERY}))
    evaluator = Evaluator(load_bundle(pack))
    try:
        assert judge(evaluator, "Power station", capacite_wh=250, chemistry="Li-ion") == ["t.big-battery"]
        assert judge(evaluator, "Power station 0,5 kWh", chemistry="LI-ION") == ["t.big-battery"]
        assert judge(evaluator, "Power station 80 Wh", chemistry="Li-ion") == []
        with pytest.raises(ListingError, match="expected one of Li-ion, LiFePO4, NiMH"):
            evaluator.evaluate(
                {"id": "l2", "title": "x", "ship_to": ["FR"], "attributes": {"chemistry": "lead"}}
            )
    finally:
        evaluator.close()
    tested = tamis("test", str(pack), "--min-coverage", "100")
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "1/1 policies pass" in tested.stdout


def test_an_undeclared_attribute_is_refused_where_it_is_written(write_pack: Write) -> None:
    """A policy on an attribute attributes.yaml does not declare is an error at file:line:column."""
    files = base_pack(policy(when={"field": "attributes.battery_wh", "gt": 100}))
    with pytest.raises(PolicySetError) as raised:
        load_bundle(write_pack(files))
    [problem] = [str(problem) for problem in raised.value.problems]
    assert re.match(r"rules/p0\.yaml:\d+:\d+: ", problem), problem
    assert "attribute 'battery_wh' is not declared in attributes.yaml" in problem


def test_a_declared_attribute_keeps_its_type_in_policies(write_pack: Write) -> None:
    """An operator that does not fit the declared type is refused, located."""
    files = base_pack(policy(when={"field": "attributes.chemistry", "gt": 1}), **{"attributes.yaml": BATTERY})
    with pytest.raises(PolicySetError) as raised:
        load_bundle(write_pack(files))
    [problem] = [str(problem) for problem in raised.value.problems]
    assert "'gt' does not apply to attributes.chemistry (string)" in problem and "rules/p0.yaml:" in problem


def test_aliases_must_not_shadow_a_declared_name(write_pack: Write) -> None:
    shadowing = {
        "attributes": {
            **BATTERY["attributes"],
            "other": {"type": "number", "description": "x", "aliases": ["chemistry"]},
        }
    }
    with pytest.raises(PolicySetError, match="alias 'chemistry' is already the name of chemistry"):
        load_bundle(write_pack(base_pack(policy(), **{"attributes.yaml": shadowing})))


@pytest.mark.parametrize(
    ("energy", "expected"),
    [
        (0.08, set()),  # not more than 0.08 J: a toy
        (0.5, {"fr.decret-99-240.replica-airsoft"}),
        (2, {"fr.decret-99-240.replica-airsoft"}),  # up to 2 J inclusive
        (2.5, {"fr.csi.l312-1.minors.age-gate"}),  # above 2 J: a weapon
    ],
)
def test_airsoft_energies_are_decided(shipped: Evaluator, energy: float, expected: set[str]) -> None:
    """Décret 99-240 on the declared energy_j: (0.08 J, 2 J] is no sale to minors, above is a weapon."""
    found = set(judge(shipped, "Lanceur à billes 6 mm", energy_j=energy))
    assert found & {"fr.decret-99-240.replica-airsoft", "fr.csi.l312-1.minors.age-gate"} == expected
    assert set(judge(shipped, "Lanceur à billes 6 mm", muzzle_energy_j=energy)) == found  # an alias


def test_gpsr_manufacturer_identification(shipped: Evaluator) -> None:
    """GPSR art. 19: an offer whose manufacturer is stated as unknown is flagged; a named one is not."""
    assert "eu.gpsr.19.distance-sale-info.manufacturer" in judge(
        shipped, "Coque de téléphone", fabricant="inconnu"
    )
    assert "eu.gpsr.19.distance-sale-info.manufacturer" not in judge(
        shipped, "Coque de téléphone", manufacturer="Acme SAS, 75002 Paris, contact@acme.example"
    )


#: A lexicon test naming no fields, and one naming the title only.
WIDGET_ANYWHERE = policy("t.anywhere", when={"lexicon": "widget"})
WIDGET_IN_TITLE = policy("t.title", when={"lexicon": "widget", "fields": ["title"]})
DEFAULT_WITH_ATTRIBUTES = ("title", "description", "attributes.material", "attributes.contains")


def _text_attributes(searched: bool) -> dict[str, Any]:
    """material then contains, both marked `searched` or neither."""
    mark = {"searched": True} if searched else {}
    return {
        "attributes": {
            "material": {"type": "text", "description": "What it is made of.", **mark},
            "contains": {"type": "list of text", "description": "What it contains.", **mark},
        }
    }


def _matched(pack: Path, **attributes: Any) -> set[str]:
    evaluator = Evaluator(load_bundle(pack))
    try:
        listing = {"id": "l1", "title": "Gift", "ship_to": ["FR"], "attributes": attributes}
        return {match.policy for match in evaluator.evaluate(listing, DAY).matches}
    finally:
        evaluator.close()


def test_a_pack_marking_no_attribute_searches_title_and_description(write_pack: Write) -> None:
    """Without `searched`, the default is the title and description: an attribute saying the
    word decides nothing."""
    pack = write_pack(base_pack(WIDGET_ANYWHERE, **{"attributes.yaml": _text_attributes(searched=False)}))
    [written] = load_bundle(pack).policy_set.policies
    assert written.when.fields == ("title", "description")  # type: ignore[union-attr]
    assert _matched(pack, material="widget", contains=["widget"]) == set()


def test_searched_attributes_are_read_by_default_in_declaration_order(write_pack: Write) -> None:
    """A lexicon test naming no fields reads the title, the description, then the searched
    attributes as declared (in a policy and in a named condition alike); one naming its fields
    reads those only."""
    named = {"conditions": {"widgety": {"description": "Says widget.", "when": {"lexicon": "widget"}}}}
    by_name = policy("t.named", when={"condition": "widgety"})
    files = base_pack(
        WIDGET_ANYWHERE,
        WIDGET_IN_TITLE,
        by_name,
        **{"attributes.yaml": _text_attributes(searched=True), "conditions.yaml": named},
    )
    pack = write_pack(files)
    for written in load_bundle(pack).policy_set.policies:
        expected = ("title",) if written.id == "t.title" else DEFAULT_WITH_ATTRIBUTES
        assert written.when.fields == expected, written.id  # type: ignore[union-attr]
    assert _matched(pack, material="widget") == {"t.anywhere", "t.named"}
    assert _matched(pack, contains=["plastic", "widget"]) == {"t.anywhere", "t.named"}
    assert _matched(pack, material="plastic") == set()


def test_default_in_a_fields_list_stands_for_the_searched_fields(write_pack: Write) -> None:
    """`[default, category]` reads what a test naming no fields reads, then the category, each once:
    a structured listing whose attribute says the word is caught by it as by the plain default."""
    fields = ["default", "category", "title"]
    with_category = policy("t.category", when={"lexicon": "widget", "fields": fields})
    pack = write_pack(base_pack(with_category, **{"attributes.yaml": _text_attributes(searched=True)}))
    [written] = load_bundle(pack).policy_set.policies
    assert written.when.fields == (*DEFAULT_WITH_ATTRIBUTES, "category")  # type: ignore[union-attr]
    assert _matched(pack, material="widget") == {"t.category"}
    assert _matched(pack, material="plastic") == set()


@pytest.mark.parametrize(
    ("declaration", "expected"),
    [
        # marked searched, never declared: no type, no description
        ({"searched": True}, "missing required key 'type'"),
        ({"type": "number", "description": "Grams.", "searched": True}, "searched applies to text"),
    ],
)
def test_searched_marks_a_declared_text_attribute_only(
    write_pack: Write, declaration: dict[str, Any], expected: str
) -> None:
    """An attribute marked searched that is not declared, or is not text, is an error located
    in attributes.yaml."""
    declared = {"attributes": {**_text_attributes(searched=True)["attributes"], "colour": declaration}}
    with pytest.raises(PolicySetError) as raised:
        load_bundle(write_pack(base_pack(policy(), **{"attributes.yaml": declared})))
    problems = [str(problem) for problem in raised.value.problems]
    assert all(re.match(r"attributes\.yaml:\d+:\d+: ", problem) for problem in problems), problems
    assert any(expected in problem for problem in problems), problems
