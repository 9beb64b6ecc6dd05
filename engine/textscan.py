"""Everything a bundle looks for in a listing's text, found in one scan per field.

Lexicons run over the words view, regular expressions and number extraction over the folded
view (see engine.textnorm). Positions stay in view coordinates until a verdict needs
evidence; only then are they mapped back to the original text, for the fields that matched.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from engine import textnorm
from engine.fields import read_text
from engine.lexicons import LexiconIndex, TermHit
from engine.model import Lexicon, TextExtraction


@dataclass(slots=True)
class FieldText:
    """One text field in its three forms, with lazy maps back to the original."""

    original: str
    folded: str
    view: str | None = None
    _offsets: list[int] | None = None
    _words_map: textnorm.WordsMap | None = None
    _mapped: bool = False

    def words(self) -> str:
        if self.view is None:
            self.view = textnorm.words(self.folded)
        return self.view

    def source_of_folded(self, start: int, end: int) -> tuple[int, int]:
        """Original [start, end) of a folded-text span."""
        if not self._mapped:
            self._offsets = textnorm.fold_offsets(self.original)
            self._mapped = True
        if self._offsets is None or end <= start:
            return start, end
        return self._offsets[start], self._offsets[end - 1] + 1

    def source_of_words(self, start: int, end: int) -> tuple[int, int]:
        """Original [start, end) of a words-view span."""
        if self._words_map is None:
            self._words_map = textnorm.WordsMap(self.folded)
        mapping = self._words_map
        return self.source_of_folded(mapping.folded_index(start), mapping.folded_index(end - 1) + 1)


@dataclass(frozen=True, slots=True)
class TextHit:
    """A match in one field, in the coordinates of the view it was found in."""

    field: str
    start: int
    end: int
    term: str = ""


@dataclass(frozen=True, slots=True)
class Inferred:
    """A number read from text for an attribute the listing did not give."""

    value: float
    hit: TextHit


@dataclass(slots=True)
class TextFindings:
    texts: dict[str, FieldText] = field(default_factory=dict)
    terms: dict[str, list[TextHit]] = field(default_factory=dict)  # lexicon → hits
    patterns: dict[str, list[TextHit]] = field(default_factory=dict)  # regex → first hit per field
    inferred: dict[str, Inferred] = field(default_factory=dict)  # attribute → value


class TextScanner:
    """The text side of a compiled bundle."""

    def __init__(
        self,
        lexicons: Iterable[Lexicon],
        lexicon_fields: Iterable[str],
        patterns: dict[str, tuple[str, ...]],
        extractions: dict[str, tuple[TextExtraction, ...]],
    ) -> None:
        self._index = LexiconIndex(lexicons)
        self._lexicon_fields = tuple(sorted(set(lexicon_fields)))
        self._patterns = [(source, re.compile(source), fields) for source, fields in patterns.items()]
        self._extractions = [
            (attribute, re.compile(pattern), spec.fields, spec.scale)
            for attribute, specs in extractions.items()
            for spec in specs
            for pattern in spec.patterns
        ]
        self._fields = sorted(
            set(self._lexicon_fields)
            | {name for _, _, fields in self._patterns for name in fields}
            | {name for _, _, fields, _ in self._extractions for name in fields}
        )

    def scan(self, listing: dict[str, Any]) -> TextFindings:
        findings = TextFindings()
        texts = findings.texts
        for name in self._fields:
            original = read_text(listing, name)
            if original is not None:
                texts[name] = FieldText(original, textnorm.fold(original))
        for name in self._lexicon_fields:
            text = texts.get(name)
            if text is not None:
                for hit in self._index.find(text.words()):
                    findings.terms.setdefault(hit.lexicon, []).append(_located(name, hit))
        for source, pattern, fields in self._patterns:
            for name in fields:
                text = texts.get(name)
                match = pattern.search(text.folded) if text is not None else None
                if match is not None:
                    findings.patterns.setdefault(source, []).append(TextHit(name, match.start(), match.end()))
        given = listing.get("attributes") or {}
        for attribute, pattern, fields, scale in self._extractions:
            if attribute in given:
                continue
            for name in fields:
                text = texts.get(name)
                for match in pattern.finditer(text.folded) if text is not None else ():
                    value = _number(match.group(1))
                    best = findings.inferred.get(attribute)
                    if value is not None and (best is None or value * scale > best.value):
                        findings.inferred[attribute] = Inferred(
                            value * scale, TextHit(name, match.start(), match.end())
                        )
        return findings


def _located(field_name: str, hit: TermHit) -> TextHit:
    return TextHit(field_name, hit.start, hit.end, hit.term)


def _number(text: str) -> float | None:
    try:
        return float(text.replace(",", ".").replace(" ", ""))
    except ValueError:
        return None
