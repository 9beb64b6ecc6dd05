"""Evidence for a matched policy: the spans and values behind the tests its rule passed."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

from tamis.engine.compiler import Literal
from tamis.engine.facts import field_value
from tamis.engine.model import FieldTest, LexiconTest, ObfuscationTest, RegexTest
from tamis.engine.textscan import OBFUSCATED, TextFindings, TextHit
from tamis.engine.verdict import Evidence


def _span(findings: TextFindings, hit: TextHit, words: bool) -> tuple[str, int, int]:
    text = findings.text(hit.field)
    assert text is not None, "a hit always comes from a present field"
    start, end = (text.source_of_words if words else text.source_of_folded)(hit.start, hit.end)
    return text.original[start:end], start, end


@functools.cache
def describe(test: FieldTest) -> str:
    """A field test as a reviewer reads it: `attributes.height_cm < 130`."""
    symbols = {"lt": "<", "lte": "<=", "gt": ">", "gte": ">=", "equals": "="}
    operator, operand = test.operator, test.operand
    if operator in symbols:
        source = {"any": "", "stated": " (as stated)", "text": " (in the text)"}[test.source]
        return f"{test.field} {symbols[operator]} {_plain(operand)}{source}"
    if operator == "present":
        return f"{test.field} {'present' if operand else 'absent'}"
    if operator == "contains":
        values = (operand,) if isinstance(operand, str) else operand
        return f"{test.field} contains {' or '.join(values)}"
    if operator == "in_list":
        return f"{test.field} in list {operand}"
    return f"{test.field} in [{', '.join(operand)}]"


def _plain(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


#: Evidence items kept per match, in (field, position) order: with at most
#: engine.lexicons.MAX_HITS_PER_FIELD spans per lexicon and field, one hit per regex and field
#: and one item per other test, a policy testing many lexicons over many fields could still
#: list hundreds; a reviewer needs a few, and a verdict must stay small enough to send.
MAX_EVIDENCE = 32


def evidence_for(
    literals: Iterable[Literal], listing: dict[str, Any], findings: TextFindings
) -> tuple[Evidence, ...]:
    """Evidence from the positive tests of the fired alternatives, in order, without repeats,
    at most MAX_EVIDENCE items; a lexicon span inside a longer span of the same lexicon ("poing
    américain" within "coup de poing américain") adds nothing for a reviewer and is left out."""
    found: dict[tuple[Any, ...], Evidence] = {}
    for literal in sorted(literals, key=lambda item: item.prop):
        leaf = literal.leaf
        if leaf is None or not literal.positive:
            continue
        for item in _leaf_evidence(leaf, listing, findings):
            found.setdefault((item.field, item.start, item.end, item.lexicon, item.condition), item)
    nested = _nested(found.values())
    kept = sorted(
        (item for item in found.values() if (item.field, item.lexicon, item.start, item.end) not in nested),
        key=lambda e: (e.field, e.start or 0, e.lexicon, e.condition),
    )
    return tuple(kept[:MAX_EVIDENCE])


def _nested(items: Iterable[Evidence]) -> set[tuple[str, str, int, int]]:
    """(field, lexicon, start, end) of the lexicon spans strictly within another span of the
    same lexicon and field: one sort and one sweep, keeping the furthest end seen so far."""
    spans = sorted(
        {
            (item.field, item.lexicon, item.start, -item.end)
            for item in items
            if item.lexicon and item.start is not None and item.end is not None
        }
    )
    inside: set[tuple[str, str, int, int]] = set()
    group: tuple[str, str] | None = None
    reach = -1
    for field, lexicon, start, negative_end in spans:
        end = -negative_end
        if (field, lexicon) != group:
            group, reach = (field, lexicon), -1
        elif reach >= end:  # an earlier span starts no later and ends no sooner, and differs
            inside.add((field, lexicon, start, end))
        reach = max(reach, end)
    return inside


def _leaf_evidence(
    leaf: LexiconTest | RegexTest | ObfuscationTest | FieldTest,
    listing: dict[str, Any],
    findings: TextFindings,
) -> list[Evidence]:
    if isinstance(leaf, LexiconTest):
        items = []
        for hit in findings.terms.get(leaf.lexicon, ()):
            if hit.field in leaf.fields:
                text, start, end = _span(findings, hit, words=True)
                items.append(Evidence(hit.field, text, start, end, lexicon=leaf.lexicon))
        return items
    if isinstance(leaf, ObfuscationTest):
        items = []
        for hit in findings.terms.get(OBFUSCATED, ()):
            field_text = findings.text(hit.field)
            if hit.field in leaf.fields and field_text is not None:
                shown = field_text.original[hit.start : hit.end]
                items.append(
                    Evidence(hit.field, shown, hit.start, hit.end, condition=f"obfuscated: {hit.term}")
                )
        return items
    if isinstance(leaf, RegexTest):
        items = []
        for hit in findings.patterns.get(leaf.regex, ()):
            if hit.field in leaf.fields:
                text, start, end = _span(findings, hit, words=False)
                items.append(Evidence(hit.field, text, start, end, condition=f"regex {leaf.regex}"))
        return items
    condition = describe(leaf)
    attribute = leaf.field.removeprefix("attributes.")
    stated = attribute in (listing.get("attributes") or {})
    if (
        leaf.field.startswith("attributes.")
        and leaf.source != "stated"
        and (leaf.source == "text" or not stated)
    ):
        inferred = findings.inferred.get(attribute)
        if inferred is not None:
            text, start, end = _span(findings, inferred.hit, words=False)
            return [
                Evidence(
                    inferred.hit.field,
                    text,
                    start,
                    end,
                    condition=f"{condition} (read from text: {_plain(inferred.value)})",
                )
            ]
    value = field_value(listing, findings, leaf.field, leaf.source)
    if isinstance(value, dict):
        value = "present"
    elif isinstance(value, list):
        value = ", ".join(value)
    return [Evidence(leaf.field, "" if value is None else _plain(value), condition=condition)]
