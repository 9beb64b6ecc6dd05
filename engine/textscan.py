"""Everything a bundle looks for in a listing's text, found in one scan per field.

Lexicons run over the words view, regular expressions and number extraction over the folded
view (see engine.textnorm). Positions stay in view coordinates until a verdict needs
evidence; only then are they mapped back to the original text, for the fields that matched.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import ahocorasick_rs

from tamis.engine import _lexscan, textnorm
from tamis.engine.fields import read_text
from tamis.engine.lexicons import LexiconIndex
from tamis.engine.model import Lexicon, TextExtraction
from tamis.engine.regexfilter import after_non_digit, digit_reach, required_literal_sets, starts_with_class


@dataclass(slots=True)
class FieldText:
    """One text field in its three forms, with lazy maps back to the original."""

    original: str
    folded: str
    view: str | None = None
    _offsets: list[int] | None = None
    _words_map: textnorm.WordsMap | None = None
    _mapped: bool = False
    literals: int | None = None  # which required literals of patterns it holds (bit per id)

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


class OverBudget(Exception):
    """A listing's text took longer to read than its time budget allows."""


#: The pseudo-lexicon under which TextFindings.terms records obfuscated fields (no lexicon
#: name has angle brackets), so that the engine fact raises its flags like a lexicon's; its
#: hits are in the coordinates of the original text, their `term` says how it was disguised.
OBFUSCATED = "<obfuscated>"


class TextHit(NamedTuple):
    """A match in one field, in the coordinates of the view it was found in."""

    field: str
    start: int
    end: int
    term: str = ""


class Inferred(NamedTuple):
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
    budget: float = math.inf  # seconds of processor time past which no further pattern is run
    _started: tuple[float, float] = (0.0, 0.0)  # (time.perf_counter, time.thread_time) at start

    def __post_init__(self) -> None:
        if self.budget < math.inf:
            self._started = (time.perf_counter(), time.thread_time())

    def check_time(self) -> None:
        """Raise OverBudget once the listing has used its processor time. A thread's processor
        time grows no faster than the wall clock, whose reading costs a tenth as much (it needs
        no system call): the processor clock is only read once the wall clock is past budget."""
        wall, cpu = self._started
        if time.perf_counter() - wall >= self.budget and time.thread_time() - cpu > self.budget:
            raise OverBudget

    def text(self, name: str, words: bool = False) -> FieldText | None:
        """A text field, folded on first use (its words view too if `words`: one pass for both)."""
        texts = self.texts
        if name in texts:
            return texts[name]
        original = read_text(self.listing, name)
        if original is None:
            text = None
        elif words:
            text = FieldText(original, *textnorm.fold_words(original))
        else:
            text = FieldText(original, textnorm.fold(original))
        texts[name] = text
        return text


class TextScanner:
    """The text side of a compiled bundle: lexicons in one pass, patterns and numbers on demand."""

    def __init__(
        self,
        lexicons: Iterable[Lexicon],
        lexicon_fields: Iterable[str],
        obfuscation_fields: Iterable[str],
        patterns: dict[str, tuple[str, ...]],
        extractions: dict[str, tuple[TextExtraction, ...]],
    ) -> None:
        self._index = LexiconIndex(lexicons)
        self._lexicon_fields = tuple(sorted(set(lexicon_fields)))
        self._obfuscation_fields = tuple(sorted(set(obfuscation_fields)))
        self._literals = _LiteralIndex()
        self._patterns = {
            source: (self._literals.pattern(source), fields) for source, fields in patterns.items()
        }
        self._extractions = {
            attribute: [
                (self._literals.pattern(pattern), spec.fields, spec.scale, spec.minor_scale)
                for spec in specs
                for pattern in spec.patterns
            ]
            for attribute, specs in extractions.items()
        }
        self._literals.build()

    def scan(
        self, listing: dict[str, Any], *, complete: bool = False, budget: float = math.inf
    ) -> TextFindings:
        """Lexicon hits; with `complete`, every pattern and number too (for explanations).
        Past `budget` seconds of processor time, running a further pattern, or sorting through
        a further thousand raw lexicon matches, raises OverBudget."""
        findings = TextFindings(listing, budget=budget)
        texts, fold_words = findings.texts, textnorm.fold_words
        names, views = [], []
        for name in self._lexicon_fields:  # as findings.text(name, words=True), inlined
            original = read_text(listing, name)
            if original is None:
                texts[name] = None
                continue
            folded, view = fold_words(original)
            texts[name] = FieldText(original, folded, view)
            names.append(name)
            views.append(view)
        terms = findings.terms = _lexscan.group_hits(
            self._index.find_all(views, findings.check_time), names, TextHit
        )
        for name in self._obfuscation_fields:
            text = findings.text(name)
            found = textnorm.obfuscation(text.original) if text is not None else None
            if found is not None:
                terms.setdefault(OBFUSCATED, []).append(TextHit(name, *found))
        if complete:
            for source in self._patterns:
                self.search(source, findings)
            for attribute in self._extractions:
                self.infer(attribute, findings)
        return findings

    def search(self, source: str, findings: TextFindings) -> list[TextHit]:
        """Run one regular expression over its fields; record and return the first hit per field.
        The time budget is looked at first and before each expression run (most fields lack the
        literals the expression needs, and are passed over without running it)."""
        pattern, fields = self._patterns[source]
        hits = []
        may_match, texts = self._literals.may_match, findings.texts
        findings.check_time()
        for name in fields:
            text = texts[name] if name in texts else findings.text(name)
            if text is None or not may_match(pattern, text):
                continue
            findings.check_time()
            for match in pattern.matches(text.folded, first=True):
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
        may_match, texts = self._literals.may_match, findings.texts
        findings.check_time()
        for pattern, fields, scale, minor_scale in self._extractions[attribute]:
            for name in fields:
                text = texts[name] if name in texts else findings.text(name)
                if text is None or not may_match(pattern, text):
                    continue
                findings.check_time()
                for match in pattern.matches(text.folded):
                    value = _value(match, scale, minor_scale)
                    if value is not None and (best is None or value > best.value):
                        best = Inferred(value, TextHit(name, match.start(), match.end()))
        if best is not None:
            findings.inferred[attribute] = best
            return best.value
        return None


_DIGITS = re.compile(r"\d+")  # led by a class: the regex engine skips to it quickly
#: Starts tried one by one in a text (see _Pattern.matches) before the regex engine takes over.
MAX_TRIES = 64


class _Pattern:
    """A compiled regular expression, run only over texts meeting each of its requirements
    (one of the literals of each; see _LiteralIndex.may_match)."""

    __slots__ = ("checks", "needs", "numbers", "reach", "regex")

    def __init__(self, source: str, needs: tuple[frozenset[int], ...] | None, literals: list[str]) -> None:
        self.regex = re.compile(source)
        self.needs = needs
        # The same as tests (see _LiteralIndex.may_match): a requirement of one literal (`%`,
        # `mg`) as that literal, sought with `in`, first; the others as bit masks over literal
        # ids, held against the text's literals found by the automaton.
        self.checks: tuple[str | int, ...] | None = None
        if needs is not None:
            single = [literals[next(iter(ids))] for ids in needs if len(ids) == 1]
            self.checks = (*single, *(sum(1 << i for i in ids) for ids in needs if len(ids) > 1))
        # Tried only at starts near a digit (see matches), unless the regex engine skips quickly.
        self.reach = None if starts_with_class(source) else digit_reach(source)
        # Where that digit can be: any, or only the first of a number.
        self.numbers = self.reach is not None and after_non_digit(source)

    def matches(self, text: str, first: bool = False) -> list[re.Match[str]]:
        """regex.finditer(text) as a list (its first match only, if `first`). A pattern with a
        digit reach (engine.regexfilter) is tried only at the starts within reach before a
        digit (the first of a number, if engine.regexfilter.after_non_digit), one by one: most of
        a listing's text is far from any digit, and the regex engine, given a pattern led by an
        assertion, would try every start. A text with many digits is left to the regex engine
        after MAX_TRIES tries."""
        regex, reach = self.regex, self.reach
        if reach is None:
            if first:
                found = regex.search(text)
                return [] if found is None else [found]
            return list(regex.finditer(text))
        matched: list[re.Match[str]] = []
        match, next_digits, numbers = regex.match, _DIGITS.search, self.numbers
        position = cursor = tries = 0  # starts before `position` are done; digits sought from `cursor`
        while tries < MAX_TRIES:
            digits = next_digits(text, cursor)
            if digits is None:
                return matched
            at = digits.start()
            if numbers and at == cursor and at > 0 and text[at - 1].isdecimal():  # as \d
                cursor = digits.end()  # inside a number whose first digit was behind
                continue
            for start in range(max(position, at - reach), at + 1):
                tries += 1
                found = match(text, start)
                if found is not None:
                    matched.append(found)
                    if first:
                        return matched
                    position = cursor = found.end()  # past a digit: matches are never empty
                    break
            else:
                position = at + 1
                cursor = digits.end() if numbers else position
        if first:
            found = regex.search(text, position)
            return matched if found is None else [found]
        matched += regex.finditer(text, position)
        return matched


class _LiteralIndex:
    """The literals every pattern requires (engine.regexfilter), found in one automaton pass
    per text instead of one substring search per literal."""

    def __init__(self) -> None:
        self._ids: dict[str, int] = {}
        self._automaton: ahocorasick_rs.AhoCorasick | None = None
        self._bytes: ahocorasick_rs.BytesAhoCorasick | None = None  # the same, for ASCII text

    def pattern(self, source: str) -> _Pattern:
        requirements = required_literal_sets(source)
        if not requirements:
            return _Pattern(source, None, [])
        ids = self._ids
        needs = tuple(
            frozenset(ids.setdefault(literal, len(ids)) for literal in literals) for literals in requirements
        )
        return _Pattern(source, needs, list(ids))

    def build(self) -> None:
        if self._ids:
            standard, dfa = ahocorasick_rs.MatchKind.Standard, ahocorasick_rs.Implementation.DFA
            self._automaton = ahocorasick_rs.AhoCorasick(list(self._ids), matchkind=standard)
            self._bytes = ahocorasick_rs.BytesAhoCorasick(
                [literal.encode() for literal in self._ids], matchkind=standard, implementation=dfa
            )

    def may_match(self, pattern: _Pattern, text: FieldText) -> bool:
        """Whether `text` holds one of the literals of each requirement of `pattern`: a single
        literal sought in it, the others among the literals it holds, found once per text for
        every pattern, and only when a pattern's single literals are all there."""
        checks = pattern.checks
        if checks is None or self._automaton is None or self._bytes is None:
            return True
        folded = text.folded
        for check in checks:  # a loop: all() over a generator costs twice as much here
            if isinstance(check, str):
                if check not in folded:
                    return False
                continue
            held = text.literals
            if held is None:
                if folded.isascii():  # the usual case: a DFA over bytes, positions not needed
                    found = self._bytes.find_matches_as_indexes(folded.encode("ascii"), overlapping=True)
                else:
                    found = self._automaton.find_matches_as_indexes(folded, overlapping=True)
                held = text.literals = sum(1 << index for index in {index for index, _, _ in found})
            if not check & held:
                return False
        return True


def _value(match: re.Match[str], scale: float, minor_scale: float) -> float | None:
    """The number of an extraction match: group 1 scaled, plus a second group (the 20 of "1m20",
    the inches of 4'11") when the pattern has one and it matched."""
    value = _number(match.group(1))
    if value is None:
        return None
    minor = match.group(2) if minor_scale and match.re.groups >= 2 else None
    extra = _number(minor) if minor else None
    return value * scale + (extra or 0.0) * minor_scale


#: "1,000,000.5" (English) or "2.500.000,5" (German): groups of exactly three digits after a
#: non-zero integer part, all with the same separator, then perhaps decimals with the other one.
_GROUPED_BY_COMMAS = re.compile(r"[1-9][0-9]{0,2}(?:,[0-9]{3})+(?:\.[0-9]+)?")
_GROUPED_BY_POINTS = re.compile(r"[1-9][0-9]{0,2}(?:\.[0-9]{3})+(?:,[0-9]+)?")


def _number(text: str) -> float | None:
    """The number as a seller writes it: a decimal comma or point, thousands grouped by spaces,
    and "1,000 mW" (English) or "1.000 mW" (German) read as a thousand. A French "1,000" meaning
    one, written with three decimals, is rare beside the thousand a seller means to hide."""
    digits = text.replace(" ", "")
    if _GROUPED_BY_COMMAS.fullmatch(digits):
        digits = digits.replace(",", "")
    elif _GROUPED_BY_POINTS.fullmatch(digits):
        digits = digits.replace(".", "")
    try:
        return float(digits.replace(",", "."))
    except ValueError:
        return None
