"""The engine fact for one listing: its signals, the values rules compare, where and when.

A bundle's fact plan (engine.compiler.FactPlan) is turned into the source of one Python
function, compiled once per bundle: every field the rules read becomes a plain dictionary
lookup of its own, with no loop over the plan, no path splitting and no enum comparison per
listing (about 10% of an evaluation's instructions); each nested object (`attributes`, `seller`)
is looked up once. `fact_builder_source` shows what is made.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tamis.engine.compiler import FactPlan, Triggers, fold_value
from tamis.engine.durable import engine_number
from tamis.engine.fields import Kind, read_path
from tamis.engine.textscan import TextFindings, TextScanner

#: Trigger flags tested one by one in the fact, at most; more are tested as one set (see raised).
MAX_INLINE_TRIGGERS = 16

#: (scanner, findings, day number, fact id) → the fact
FactBuilder = Callable[[TextScanner, TextFindings, int, int], dict[str, Any]]


def field_value(listing: dict[str, Any], findings: TextFindings, path: str, source: str = "any") -> Any:
    """A field's value; for a numeric attribute, per `source` (see FieldTest.source), the number
    read from its text (as far as the scan has read it)."""
    stated = read_path(listing, path) if source != "text" else None
    if stated is not None or source == "stated" or not path.startswith("attributes."):
        return stated
    inferred = findings.inferred.get(path.removeprefix("attributes."))
    return inferred.value if inferred is not None else None


def fact_builder(plan: FactPlan, complete: bool = False) -> FactBuilder:
    """The function building facts for `plan` (see the module docstring); a `complete` fact
    holds every signal, even those no rule could use on this listing (engine.explain)."""
    source, constants = _generate(plan, complete)
    namespace: dict[str, Any] = {"fold_value": fold_value, "engine_number": engine_number, **constants}
    exec(compile(source, "<fact builder>", "exec"), namespace)  # our own source; data only as constants
    builder: FactBuilder = namespace["build_fact"]
    return builder


def fact_builder_source(plan: FactPlan) -> str:
    """The generated source, for reading and debugging."""
    return _generate(plan)[0]


def _generate(plan: FactPlan, complete: bool = False) -> tuple[str, dict[str, Any]]:
    """Eager signals first; then the costly ones (regexes, numbers in text) only where the
    compiled rules say a present signal could make them matter. The steps keep the order in
    which a trigger may look at the flags raised before it."""
    constants: dict[str, Any] = {
        "SCOPES": plan.scopes,
        "LEXICON_FLAGS": _by_lexicon(plan.lexicon_flags),
        "EMPTY": {},
        "BUCKETS": plan.buckets,
    }

    def constant(value: Any) -> str:
        name = f"C{len(constants)}"
        constants[name] = value
        return name

    def raised(triggers: Triggers) -> str:
        """Whether the fact holds every flag of one of `triggers`: a few `in` tests, or for many,
        whether it holds any of their flags (weaker, still necessary; isdisjoint walks the fact)."""
        if sum(map(len, triggers)) > MAX_INLINE_TRIGGERS:
            return f"not {constant(frozenset().union(*triggers))}.isdisjoint(fact)"
        return (
            "("
            + " or ".join(
                " and ".join(f"{flag!r} in fact" for flag in sorted(need))
                for need in sorted(map(sorted, triggers))
            )
            + ")"
        )

    lines = [
        "def build_fact(scanner, findings, day, fact_id):",
        "    listing = findings.listing",
        "    fact = {'id': fact_id, 'd': day}",
        "    for code in listing['ship_to']:",
        "        for flag in SCOPES.get(code, ()):",
        "            fact[flag] = 1",
        "    for lexicon, hits in findings.terms.items():",
        "        fields = LEXICON_FLAGS.get(lexicon)",
        "        if fields is not None:",
        "            for hit in hits:",
        "                for flag in fields.get(hit.field, ()):",
        "                    fact[flag] = 1",
    ]
    objects: dict[tuple[str, ...], str] = {(): "listing"}

    def object_at(parts: tuple[str, ...]) -> str:
        """The local holding the object at `parts` of the listing, None if absent or if a step is
        not an object (as engine.fields.read_path); read once, where first needed."""
        if parts not in objects:
            parent = object_at(parts[:-1])
            name = objects[parts] = f"o{len(objects)}"
            step = f"{parent}.get({parts[-1]!r})"
            lines.append(
                f"    {name} = {step}"
                if parent == "listing"
                else f"    {name} = {step} if {parent} is not None else None"
            )
            lines.append(f"    {name} = {name} if isinstance({name}, dict) else None")
        return objects[parts]

    for path, table in plan.memberships.items():
        *steps, key = path.split(".")
        holder = object_at(tuple(steps))
        lines.append(
            f"    value = {holder}.get({key!r})"
            if holder == "listing"
            else f"    value = {holder}.get({key!r}) if {holder} is not None else None"
        )
        lines += [
            "    if value is not None:",
            "        for item in value if isinstance(value, list) else (value,):",
            f"            for flag in {constant(table)}.get(fold_value(item), ()):",
            "                fact[flag] = 1",
        ]

    # Values as stated before the costly signals, whose triggers may be stated values.
    lines += _values(plan, False, complete, object_at, raised)
    for source, triggers in plan.pattern_triggers.items():
        indent = "    "
        if triggers is not None and not complete:
            lines.append(f"    if {raised(triggers)}:")
            indent += "    "
        flags = {name: props for (pattern, name), props in plan.pattern_flags.items() if pattern == source}
        lines += [
            f"{indent}for hit in scanner.search({constant(source)}, findings):",
            f"{indent}    for flag in {constant(flags)}.get(hit.field, ()):",
            f"{indent}        fact[flag] = 1",
        ]
    lines += _values(plan, True, complete, object_at, raised)
    if plan.buckets:
        lines += [
            "    for prop in list(fact):",
            "        bucket = BUCKETS.get(prop)",
            "        if bucket is not None:",
            "            fact[bucket] = 1",
        ]
    lines.append("    return fact")
    return "\n".join(lines) + "\n", constants


def _values(
    plan: FactPlan,
    lazy: bool,
    complete: bool,
    object_at: Callable[[tuple[str, ...]], str],
    raised: Callable[[Triggers], str],
) -> list[str]:
    """The lines setting value properties: as stated (not lazy), or those that may also be read
    from text (lazy), read only when their triggers are in the fact."""
    lines = []
    for parent, entries in plan.value_groups:
        chosen = [entry for entry in entries if (entry[2] in plan.inference_triggers) == lazy]
        if not chosen:
            continue
        holder = object_at(tuple(parent))
        lines.append(f"    container = {holder} if {holder} is not None else EMPTY")
        for key, source, prop, kind in chosen:
            if source == "text" and not lazy:
                continue  # never stated, never read: the rules can only find it absent
            lines.append(f"    value = {'None' if source == 'text' else f'container.get({key!r})'}")
            if lazy:
                triggers = None if complete else plan.inference_triggers[prop]
                guard = "" if triggers is None else f" and {raised(triggers)}"
                lines += [
                    f"    if value is None{guard}:",
                    f"        value = scanner.infer({key!r}, findings)",
                ]
            stored = {Kind.NUMBER: "engine_number(value)", Kind.BOOL: "int(value)"}.get(kind, "1")
            lines += ["    if value is not None:", f"        fact[{prop!r}] = {stored}"]
    return lines


def _by_lexicon(flags: dict[tuple[str, str], list[str]]) -> dict[str, dict[str, list[str]]]:
    """Flags by lexicon, then field: a hit of a lexicon no rule reads costs one lookup."""
    grouped: dict[str, dict[str, list[str]]] = {}
    for (lexicon, name), raised in flags.items():
        grouped.setdefault(lexicon, {})[name] = raised
    return grouped
