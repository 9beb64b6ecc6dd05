"""engine._lexscan.group_hits records find_all's hits as TextScanner.scan did in Python: by
lexicon, in order, each a TextHit of its field's name; malformed input is refused."""

from __future__ import annotations

import pytest

from bench.corpus import generate
from tamis.engine import _lexscan, load_bundle
from tamis.engine.listing import validate_listing
from tamis.engine.textscan import TextFindings, TextHit
from tests.conftest import POLICIES


def grouped_in_python(
    hits: list[tuple[int, str, str, int, int]], names: list[str]
) -> dict[str, list[TextHit]]:
    grouped: dict[str, list[TextHit]] = {}
    for number, lexicon, term, start, end in hits:
        grouped.setdefault(lexicon, []).append(TextHit(names[number], start, end, term))
    return grouped


def test_grouped_hits_are_those_of_the_python_loop_on_the_corpus() -> None:
    bundle = load_bundle(POLICIES)
    scanner = bundle.scanner
    total = 0
    for raw in generate(400):
        findings = TextFindings(validate_listing(raw, fields=bundle.policy_set.fields))
        names, views = [], []
        for name in scanner._lexicon_fields:
            text = findings.text(name, words=True)
            if text is not None:
                names.append(name)
                views.append(text.words())
        hits = scanner._index.find_all(views)
        grouped = _lexscan.group_hits(hits, names, TextHit)
        assert grouped == grouped_in_python(hits, names)
        assert list(grouped) == list(grouped_in_python(hits, names))  # lexicons in order of first hit
        assert all(type(hit) is TextHit for found in grouped.values() for hit in found)
        total += len(hits)
    assert total > 1000


@pytest.mark.parametrize(
    "hits",
    [
        [(2, "a", "t", 1, 2)],
        [(-1, "a", "t", 1, 2)],
        [(0, "a", "t", 1)],
        [["0", "a", "t", 1, 2]],
        [("0", "a", "t", 1, 2)],
    ],
)
def test_malformed_hits_are_refused(hits: list[tuple[int, str, str, int, int]]) -> None:
    with pytest.raises((ValueError, TypeError)):
        _lexscan.group_hits(hits, ["title", "description"], TextHit)


def test_only_a_tuple_type_is_taken() -> None:
    with pytest.raises(TypeError):
        _lexscan.group_hits([], [], dict)  # type: ignore[type-var]
