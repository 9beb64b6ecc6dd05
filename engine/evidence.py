"""Evidence for a matched policy: the spans and values behind the tests its rule passed."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any

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


#: What a leaf test shows as evidence on one listing (see leaf_reader).
Reader = Callable[[dict[str, Any], TextFindings], list[Evidence]]


def leaf_reader(leaf: LexiconTest | RegexTest | ObfuscationTest | FieldTest) -> Reader:
    """The evidence of one leaf test, as a function of the listing and its findings, with what
    depends on the test alone (its description, its field's parts) worked out once."""
    if isinstance(leaf, LexiconTest | ObfuscationTest | RegexTest):
        return functools.partial(_text_evidence, leaf)
    condition = describe(leaf)
    path, source = leaf.field, leaf.source
    attribute = path.removeprefix("attributes.")
    inferable = path.startswith("attributes.") and source != "stated"

    def read(listing: dict[str, Any], findings: TextFindings) -> list[Evidence]:
        if inferable and (source == "text" or attribute not in (listing.get("attributes") or {})):
            inferred = findings.inferred.get(attribute)
            if inferred is not None:
                text, start, end = _span(findings, inferred.hit, words=False)
                shown = f"{condition} (read from text: {_plain(inferred.value)})"
                return [Evidence(inferred.hit.field, text, start, end, condition=shown)]
        value = field_value(listing, findings, path, source)
        if isinstance(value, dict):
            value = "present"
        elif isinstance(value, list):
            value = ", ".join(value)
        return [Evidence(path, "" if value is None else _plain(value), condition=condition)]

    return read


def evidence_of(
    readers: Iterable[Reader],
    listing: dict[str, Any],
    findings: TextFindings,
    shown: dict[Reader, list[Evidence]] | None = None,
) -> tuple[Evidence, ...]:
    """Evidence from the readers of the positive tests of the fired alternatives (by fact
    property, each leaf once), in order, without repeats, at most
    MAX_EVIDENCE items; a lexicon span inside a longer span of the same lexicon ("poing
    américain" within "coup de poing américain") adds nothing for a reviewer and is left out.
    `shown` keeps what each reader found on this listing, for the next match that shares it."""
    found: dict[tuple[Any, ...], Evidence] = {}
    for read in readers:
        items = None if shown is None else shown.get(read)
        if items is None:
            items = read(listing, findings)
            if shown is not None:
                shown[read] = items
        for item in items:
            found.setdefault((item.field, item.start, item.end, item.lexicon, item.condition), item)
    kept = list(found.values())
    if len(kept) == 1:  # the usual case: nothing nested, nothing to sort
        return tuple(kept)
    if sum(1 for item in kept if item.lexicon) > 1:
        nested = _nested(kept)
        kept = [item for item in kept if (item.field, item.lexicon, item.start, item.end) not in nested]
    kept.sort(key=lambda e: (e.field, e.start or 0, e.lexicon, e.condition))
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


def _text_evidence(
    leaf: LexiconTest | RegexTest | ObfuscationTest, listing: dict[str, Any], findings: TextFindings
) -> list[Evidence]:
    items = []
    if isinstance(leaf, LexiconTest):
        for hit in findings.terms.get(leaf.lexicon, ()):
            if hit.field in leaf.fields:
                text, start, end = _span(findings, hit, words=True)
                items.append(Evidence(hit.field, text, start, end, lexicon=leaf.lexicon))
    elif isinstance(leaf, ObfuscationTest):
        for hit in findings.terms.get(OBFUSCATED, ()):
            field_text = findings.text(hit.field)
            if hit.field in leaf.fields and field_text is not None:
                shown = field_text.original[hit.start : hit.end]
                items.append(
                    Evidence(hit.field, shown, hit.start, hit.end, condition=f"obfuscated: {hit.term}")
                )
    else:
        for hit in findings.patterns.get(leaf.regex, ()):
            if hit.field in leaf.fields:
                text, start, end = _span(findings, hit, words=False)
                items.append(Evidence(hit.field, text, start, end, condition=f"regex {leaf.regex}"))
    return items
