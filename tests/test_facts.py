"""The generated fact builder: each kind of signal lands in the fact, costly ones only when a
rule could use them, and odd shapes (a missing object, a list) are read like read_path does."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from tamis.engine import load_bundle
from tamis.engine.facts import fact_builder, fact_builder_source
from tamis.engine.listing import DEFAULT_LIMITS, validate_listing
from tests.conftest import PackFiles, attributes, base_pack, policy

Write = Callable[[PackFiles], Path]

WHEN = {
    "any": [
        {"all": [{"lexicon": "widget"}, {"field": "attributes.height_cm", "lt": 130}]},
        {"field": "attributes.contains", "contains": "ivory"},
        {"field": "seller.country", "in": ["CN"]},
        {"field": "attributes.ce_marking", "equals": False},
        {"field": "seller.trader", "present": False},
        {"field": "brand", "present": True},
    ]
}


FROM_TEXT = attributes(height_cm={"from_text": [{"patterns": [r"(\d{2,3})\s*cm\b"]}]})
PACK = base_pack(policy(when=WHEN), **{"attributes.yaml": FROM_TEXT})


def fact_for(write_pack: Write, listing: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The fact of `listing`, and the property name of each value the rules compare."""
    bundle = load_bundle(write_pack(PACK))
    plan = bundle.program.plan
    valid = validate_listing(listing, DEFAULT_LIMITS, bundle.policy_set.fields)
    fact = fact_builder(plan)(bundle.scanner, bundle.scanner.scan(valid), 7, 42)
    return fact, {path: prop for (path, _source), (prop, _kind) in plan.values.items()}


def listing(**fields: Any) -> dict[str, Any]:
    return {"id": "l1", "title": "A thing", "ship_to": ["FR"], **fields}


def test_values_memberships_and_flags(write_pack: Write) -> None:
    seller = {"id": "s", "country": "cn", "trader": {"name": "T"}}
    attributes = {"contains": ["wood", "Ivory"], "ce_marking": False, "height_cm": 120}
    fact, props = fact_for(write_pack, listing(seller=seller, attributes=attributes, brand="Acme"))
    assert fact["id"] == 42 and fact["d"] == 7
    assert fact[props["attributes.height_cm"]] == 120
    ce_marking = fact[props["attributes.ce_marking"]]
    assert ce_marking == 0 and type(ce_marking) is int  # booleans as 1/0
    assert fact[props["seller.trader"]] == fact[props["brand"]] == 1  # objects and strings: present
    assert sum(name.startswith("m") for name in fact) == 2  # "ivory" in the list, CN folded


def test_numbers_read_from_text_only_behind_their_trigger(write_pack: Write) -> None:
    """The height is read from the text only when the lexicon it is tested beside was found."""
    plain, props = fact_for(write_pack, listing(title="A doll 120 cm"))
    assert props["attributes.height_cm"] not in plain
    found, _ = fact_for(write_pack, listing(title="A widget 120 cm"))
    assert found[props["attributes.height_cm"]] == 120


def test_missing_or_odd_objects_read_as_absent(write_pack: Write) -> None:
    fact, props = fact_for(write_pack, listing())
    assert set(props.values()).isdisjoint(fact)
    assert not any(name.startswith("m") for name in fact)


def test_the_source_is_readable(write_pack: Write) -> None:
    plan = load_bundle(write_pack(PACK)).program.plan
    source = fact_builder_source(plan)
    assert source.startswith("def build_fact(scanner, findings, day, fact_id):")
    assert "container.get('height_cm')" in source
