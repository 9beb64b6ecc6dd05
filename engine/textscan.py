"""Everything a bundle looks for in a listing's text, found in one scan per field.

Lexicons run over the words view, regular expressions and number extraction over the folded
view (see engine.textnorm). Positions stay in view coordinates until a verdict needs
evidence; only then are they mapped back to the original text, for the fields that matched.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from engine import textnorm
from engine.fields import read_text
from engine.lexicons import LexiconIndex, TermHit
from engine.model import Lexicon, TextExtraction
from engine.regexfilter import required_literals


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
    """What the scanner found in one listing; regular expressions and numbers read from text
    are filled in on demand (see engine.facts)."""

    listing: dict[str, Any]
    texts: dict[str, FieldText | None] = field(default_factory=dict)
    terms: dict[str, list[TextHit]] = field(default_factory=dict)  # lexicon → hits
    patterns: dict[str, list[TextHit]] = field(default_factory=dict)  # regex → first hit per field
    inferred: dict[str, Inferred] = field(default_factory=dict)  # attribute → value

    def text(self, name: str) -> FieldText | None:
        """A text field, folded on first use."""
        if name not in self.texts:
            original = read_text(self.listing, name)
            self.texts[name] = None if original is None else FieldText(original, textnorm.fold(original))
        return self.texts[name]


class TextScanner:
    """The text side of a compiled bundle: lexicons in one pass, patterns and numbers on demand."""

    def __init__(
        self,
        lexicons: Iterable[Lexicon],
        lexicon_fields: Iterable[str],
        patterns: dict[str, tuple[str, ...]],
        extractions: dict[str, tuple[TextExtraction, ...]],
    ) -> None:
        self._index = LexiconIndex(lexicons)
        self._lexicon_fields = tuple(sorted(set(lexicon_fields)))
        self._patterns = {source: (_Pattern(source), fields) for source, fields in patterns.items()}
        self._extractions = {
            attribute: [
                (_Pattern(pattern), spec.fields, spec.scale) for spec in specs for pattern in spec.patterns
            ]
            for attribute, specs in extractions.items()
        }

    def scan(self, listing: dict[str, Any], *, complete: bool = False) -> TextFindings:
        """Lexicon hits; with `complete`, every pattern and number too (for explanations)."""
        findings = TextFindings(listing)
        for name in self._lexicon_fields:
            text = findings.text(name)
            if text is not None:
                for hit in self._index.find(text.words()):
                    findings.terms.setdefault(hit.lexicon, []).append(_located(name, hit))
        if complete:
            for source in self._patterns:
                self.search(source, findings)
            for attribute in self._extractions:
                self.infer(attribute, findings)
        return findings

    def search(self, source: str, findings: TextFindings) -> list[TextHit]:
        """Run one regular expression over its fields; record and return the first hit per field."""
        pattern, fields = self._patterns[source]
        hits = []
        for name in fields:
            text = findings.text(name)
            match = pattern.search(text.folded) if text is not None else None
            if match is not None:
                hits.append(TextHit(name, match.start(), match.end()))
        if hits:
            findings.patterns[source] = hits
        return hits

    def infer(self, attribute: str, findings: TextFindings) -> float | None:
        """The largest number the text gives for an attribute (recorded for evidence)."""
        if attribute in findings.inferred:
            return findings.inferred[attribute].value
        if attribute not in self._extractions:
            return None
        best: Inferred | None = None
        for pattern, fields, scale in self._extractions[attribute]:
            for name in fields:
                text = findings.text(name)
                for match in pattern.finditer(text.folded) if text is not None else ():
                    value = _number(match.group(1))
                    if value is not None and (best is None or value * scale > best.value):
                        best = Inferred(value * scale, TextHit(name, match.start(), match.end()))
        if best is not None:
            findings.inferred[attribute] = best
            return best.value
        return None


class _Pattern:
    """A compiled regular expression that skips texts lacking the literals it requires."""

    __slots__ = ("_needs", "_regex")

    def __init__(self, source: str) -> None:
        self._regex = re.compile(source)
        self._needs = required_literals(source)

    def _may_match(self, text: str) -> bool:
        return self._needs is None or any(literal in text for literal in self._needs)

    def search(self, text: str) -> re.Match[str] | None:
        return self._regex.search(text) if self._may_match(text) else None

    def finditer(self, text: str) -> Iterator[re.Match[str]]:
        return self._regex.finditer(text) if self._may_match(text) else iter(())


def _located(field_name: str, hit: TermHit) -> TextHit:
    return TextHit(field_name, hit.start, hit.end, hit.term)


def _number(text: str) -> float | None:
    try:
        return float(text.replace(",", ".").replace(" ", ""))
    except ValueError:
        return None
