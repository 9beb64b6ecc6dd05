"""The engine fact for one listing: its signals, the values rules compare, where and when."""

from __future__ import annotations

from typing import Any

from engine.compiler import FactPlan, fold_value
from engine.fields import Kind, read_path
from engine.textscan import TextFindings, TextScanner


def field_value(listing: dict[str, Any], findings: TextFindings, path: str, source: str = "any") -> Any:
    """A field's value; for a numeric attribute, per `source` (see FieldTest.source), the number
    read from its text (as far as the scan has read it)."""
    stated = read_path(listing, path) if source != "text" else None
    if stated is not None or source == "stated" or not path.startswith("attributes."):
        return stated
    inferred = findings.inferred.get(path.removeprefix("attributes."))
    return inferred.value if inferred is not None else None


def build_fact(
    plan: FactPlan, scanner: TextScanner, findings: TextFindings, day: int, fact_id: int
) -> dict[str, Any]:
    """Eager signals first; then the costly ones (regexes, numbers in text) only where the
    compiled rules say a present signal could make them matter."""
    listing = findings.listing
    fact: dict[str, Any] = {"id": fact_id, "d": day}
    for code in listing["ship_to"]:
        for flag in plan.scopes.get(code, ()):
            fact[flag] = 1
    for lexicon, hits in findings.terms.items():
        for hit in hits:
            for flag in plan.lexicon_flags.get((lexicon, hit.field), ()):
                fact[flag] = 1
    for path, table in plan.memberships.items():
        value = read_path(listing, path)
        for item in value if isinstance(value, list) else (value,) if value is not None else ():
            for flag in table.get(fold_value(item), ()):
                fact[flag] = 1
    for source, triggers in plan.pattern_triggers.items():
        if triggers is None or not triggers.isdisjoint(fact):
            for hit in scanner.search(source, findings):
                for flag in plan.pattern_flags.get((source, hit.field), ()):
                    fact[flag] = 1
    for parent, entries in plan.value_groups:
        container: Any = listing
        for part in parent:
            container = container.get(part) if container else None
        for key, source, prop, kind in entries:
            value = container.get(key) if container and source != "text" else None
            if value is None and prop in plan.inference_triggers:
                triggers = plan.inference_triggers[prop]
                if triggers is None or not triggers.isdisjoint(fact):
                    value = scanner.infer(key, findings)
            if value is not None:
                fact[prop] = value if kind is Kind.NUMBER else int(value) if kind is Kind.BOOL else 1
    if plan.buckets:
        for prop in list(fact):
            bucket = plan.buckets.get(prop)
            if bucket is not None:
                fact[bucket] = 1
    return fact
