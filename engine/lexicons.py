"""All lexicons of a bundle in one Aho-Corasick automaton over the words view of a text.

Terms go through the same folding as listings, so `poupée d'amour`, `POUPEE D AMOUR` and
`p0upee d'am0ur` meet in the middle. A key is ` term ` padded with spaces (whole words), or
` term` for a term written with a trailing `*` (any word starting with it). A term found
inside one of its lexicon's `exclude` phrases (a lookalike such as "doll house") does not
count there; the same term elsewhere in the text still does. A term written just after a
negation ("sans X", "no X", "ohne X", "non-X", "exempte de X", "au lieu de X", "alternative à X")
or just before one ("X-free", "Hydrochinon-freie", "X non détecté", "X remplacé par", "X: non"
ending its field) names what the product lacks, so it is not evidence of it and does not count
either; nor does a term later in a list the negation opens ("ohne Nikotin und Tabak", "nicotine
and tobacco free", "senza mercurio né idrochinone"), in its middle too ("frei von Quecksilber,
Hydrochinon und Parabenen").

A lexicon keeps at most MAX_HITS_PER_FIELD hits per field: the rules need one, a reviewer a few;
a text repeating a term thousands of times must cost no more to judge, nor to send back.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Callable, Iterable, Sequence
from typing import NamedTuple

import ahocorasick_rs

from tamis.engine import _lexscan, textnorm
from tamis.engine.model import Lexicon


def _by_word(phrases: Iterable[str], index: int) -> dict[str, tuple[str, ...]]:
    """Padded phrases by their first (index 0) or last (-1) word: a text is compared only with
    the few that can start or end it (negated() runs per hit)."""
    grouped: dict[str, list[str]] = {}
    for phrase in phrases:
        grouped.setdefault(phrase.split()[index], []).append(phrase)
    return {word: tuple(group) for word, group in grouped.items()}


#: Words that, written just before a term, say the product lacks it (words view: folded, no
#: punctuation), in the pack's languages. "not for children" is no more a children's product
#: than "sans nicotine" is nicotine.
NEGATIONS = tuple(
    textnorm.words(textnorm.fold(words))
    for words in (
        "sans", "pas", "pas de", "pas d", "pas un", "pas une", "aucun", "aucune", "ni", "non",  # fr
        "no", "not", "not a", "not an", "without", "zero", "free of", "free from", "not suitable",  # en
        "non e un", "non e una", "no es un", "no es una", "nao e um", "nao e uma",  # it, es, pt: "is not a"
        "ohne", "kein", "keine", "keinen", "nicht", "frei von",  # de
        "sin", "libre de", "senza", "privo di", "priva di",  # es, it
        "sem", "nao", "livre de", "isento de",  # pt ("no", "non" above)
        "zonder", "geen", "niet", "vrij van",  # nl
        "bez", "nie", "wolny od", "wolne od",  # pl (and cs "bez")
        "utan", "uden", "fara", "fara de", "χωρις", "Χωρίς",  # sv, da, ro "fără", el "χωρίς"
        "exempt de", "exempte de", "exempts de", "exemptes de",  # fr: "exempte d'hydroquinone"
        "exempt d", "exempte d", "exempts d", "exemptes d",
        "exento de", "exenta de", "exentos de", "exentas de", "esente da", "esenti da",  # es, it
        "isenta de", "isentos de", "isentas de", "nem", "weder", "ani",  # pt, de, pl: "neither"
        "ne",  # it "né … né" (French "ne" comes before a verb, never before a term)
        # What the product has instead of the term ("replaces X", "statt X"):
        "instead of", "replaces", "remplace", "remplace l", "statt", "anstatt", "anstelle von",
        "ersetzt", "au lieu de", "au lieu d", "au lieu de l", "a la place de", "a la place du",
        "a la place d", "a la place de l", "invece di", "invece del", "invece dell",
        "al posto di", "al posto del", "al posto dell", "en lugar de", "en lugar del", "en vez de",
        "en vez del", "em vez de", "em vez do", "em vez da", "in plaats van", "zamiast",
    )
)  # fmt: skip
#: Characters before a term that may hold one of NEGATIONS.
_REACH_BEFORE = max(map(len, NEGATIONS))


_NEGATION_ENDS = _by_word(NEGATIONS, -1)
#: Hits kept per (lexicon, field), in the automaton's order (by end position).
MAX_HITS_PER_FIELD = 8

#: Raw automaton matches sorted through between two looks at the listing's time budget.
CHECK_EVERY = 1024

#: Words after a term that say the product lacks it: "X-free", "Hydrochinon-freie Creme"…
_FREE = frozenset(
    textnorm.words("free frei freie freier freies freien freiem vrij vrije fri fria frie").split()
)
#: …except in "free shipping", "frei Haus", "frei verkäuflich" (sold over the counter) and the like.
_NOT_AFTER_FREE = frozenset(
    textnorm.words(textnorm.fold(word)).strip()
    for word in (
        "shipping delivery postage gift gifts returns return sample samples shipment p size"
        " haus versand lieferung verkäuflich erhältlich verfügbar zugänglich ab"
        " verkrijgbaar verzending levering te"
    ).split()
)
#: Phrases after a term that say the product lacks it: a lab's "not detected", a formula where
#: something else "replaced" it (words view, the closing space included).
_AFTER = tuple(
    textnorm.words(textnorm.fold(words))
    for words in (
        "not detected", "non détecté", "non détectée", "non détectés", "non détectées",
        "nicht nachweisbar", "nicht nachgewiesen", "non rilevato", "non rilevata", "non rilevati",
        "non rilevabile", "no detectado", "no detectada", "não detetado", "não detetada",
        "não detectado", "não detectada", "niet gedetecteerd", "niet aantoonbaar", "nie wykryto",
        "replaced by", "replaced with", "remplacé par", "remplacée par", "remplacés par",
        "remplacées par", "ersetzt durch", "sostituito da", "sostituita da", "sostituito con",
        "sustituido por", "sustituida por", "reemplazado por", "substituído por", "substituída por",
        "vervangen door", "nélkül",  # hu: "nikotin nélkül" (without, after the noun)
    )
)  # fmt: skip
_AFTER_STARTS = _by_word(_AFTER, 0)
#: "X not detected by customs", "non détecté aux rayons X": who did not see it, not a lab finding.
_UNSEEN_BY = frozenset(
    textnorm.words(
        textnorm.fold(
            "by at in par aux au à en lors von durch bei beim da dalla dai alla por"
            " pela pelo door bij przez na w"
        )
    ).split()
)
#: "X alternative" (a product to use instead of X), "alternative (naturelle) à l'X", "Alternative
#: zu X", "alternativa al X", "alternatief voor X", "alternatywa dla X": the word (never a mere
#: prefix: "Bosch alternator"), the words that join it to the term, and what "alternative" after
#: a term may still mean.
_ALTERNATIVE = frozenset(
    textnorm.words(
        "alternative alternatives alternativa alternativas alternativo alternativen alternativ"
        " alternatief alternatywa"
    ).split()
)
_ALTERNATIVE_STEM = textnorm.words("alternat").strip()
_ALTERNATIVE_TO = frozenset(
    textnorm.words(textnorm.fold("a à au aux to zu zum zur al alla all ao voor dla")).split()
)
_NOT_AFTER_ALTERNATIVE = frozenset(
    textnorm.words(textnorm.fold("medicine médecine medizin medicina")).split()
)
#: "X: non" (a yes/no field) when the answer ends the field: the words view has no colon, and
#: "hydroquinone non comédogène" must not read as a negation.
_NO = frozenset(
    textnorm.words(
        textnorm.fold("non no nein nee não nie none aucun aucune kein keine nessuno ninguno nenhum")
    ).split()
)
_CUES_AFTER = frozenset((*_AFTER_STARTS, *_FREE, *_ALTERNATIVE, *_NO))


#: Words that join the items of a list ("sans nicotine ni tabac", "senza nicotina e tabacco"), in
#: the pack's languages ("of", Dutch "or", only in a list a Dutch negation opens: English "no box
#: of nicotine" is no list).
_AND = frozenset(
    "and or nor et ou ni und oder y o e ne en i lub oraz nem ani och eller og sau vagy και".split()
)
#: Elided articles between a coordinator and the next item ("exempte de mercure et d'hydroquinone").
_ARTICLES = frozenset("d de du des".split())
_DUTCH_OR = frozenset(("of",))
_DUTCH_NEGATIONS = _by_word((textnorm.words(words) for words in ("zonder", "geen", "niet", "vrij van")), -1)
#: French words before an elided article: "à l'hydroquinone" folds to "a i hydroquinone" (`l`
#: reads as `i`), which is no Polish "and".
_ELISION_HOSTS = frozenset("a de du par pour sur dans sous".split())
#: Words that end a negated list: what follows them is stated, not denied.
_BUT = frozenset("but mais aber pero ma maar ale mas with avec mit con met".split())
#: An elided article ("l'" reads as "i") between "alternative … to" and the term.
_ELIDED = frozenset(("i", "d"))
#: "l'" in the words view: after an _ELISION_HOSTS word it is an article, not a Polish "and".
_ELIDED_L = "i"
#: A term ending with this ("nicotine free") may be read across "…, free shipping".
_FREE_SUFFIX = " free"
#: At most this many words between the negation and the coordinator just before the term: items
#: of a word or two, or a comma list (the words view has no commas: "ohne a b und c"), but never
#: the rest of the sentence.
_LIST_REACH = 4
#: A term followed by a coordinator ("…, Hydrochinon und Parabenen") is a middle item of a list
#: when a negation opens the list at most this many words before it: a comma list of single
#: words, since the words view cannot tell "ohne a, b, X und c" from "ohne a b X und c".
_MIDDLE_REACH = 3


def negated(text: str, start: int, stop: int) -> bool:
    """Whether the term at [start, stop) of a padded words view is negated by its neighbours."""
    before = text[max(0, start - _REACH_BEFORE) : start]
    if _ends_with_negation(before) or _absent_after(text, stop):
        return True
    if text.find(_ALTERNATIVE_STEM, max(0, start - 40), start) >= 0 and _alternative_to(text, start):
        return True
    words = before.split()
    last = len(words) - 2 if words[-1:] and words[-1] in _ARTICLES else len(words) - 1
    if _coordinator(words, last) and (last > 0 or start <= len(before)):
        return _negated_list(text[max(0, start - 96) : start].split()[: last - len(words)])
    if _coordinator(words, last, _DUTCH_OR) and last > 0:
        return _negated_list(
            text[max(0, start - 96) : start].split()[: last - len(words)], negations=_DUTCH_NEGATIONS
        )
    space = text.find(" ", stop + 1, stop + 6)  # after a coordinator, "… and Y free"?
    if space > 0 and text[stop + 1 : space] in _AND:
        item_stop = text.find(" ", space + 1, space + 40)
        if item_stop > 0 and _absent_after(text, item_stop):
            return True
    after = text[stop : stop + 64].split()
    if _list_goes_on(after):
        return _negated_list(text[max(0, start - 96) : start].split(), _MIDDLE_REACH)
    if _list_goes_on(after, _DUTCH_OR):
        return _negated_list(text[max(0, start - 96) : start].split(), _MIDDLE_REACH, _DUTCH_NEGATIONS)
    return False


def _ends_with_negation(before: str, negations: dict[str, tuple[str, ...]] = _NEGATION_ENDS) -> bool:
    """Whether `before` (words ending with a space) ends with one of `negations`."""
    phrases = negations.get(before[before.rfind(" ", 0, -1) + 1 : -1])
    return phrases is not None and before.endswith(phrases)


def _absent_after(text: str, stop: int) -> bool:
    """Whether the words after a term ending at `stop` say the product lacks it: "X free" (not
    "X, free shipping"), "X not detected", "X replaced by Y", "X alternative", "X: no" ending
    its field (views are joined by newlines)."""
    end = text.find(" ", stop + 1, stop + 40)
    word = text[stop + 1 : end] if end > 0 else ""
    if word not in _CUES_AFTER:  # the usual case, kept cheap
        return False
    for phrase in _AFTER_STARTS.get(word, ()):
        if text.startswith(phrase, stop):
            return text[stop + len(phrase) : stop + len(phrase) + 24].split(" ", 1)[0] not in _UNSEEN_BY
    following = text[end + 1 : end + 24].split(" ", 1)[0]
    if word in _FREE:
        return following not in _NOT_AFTER_FREE
    if word in _ALTERNATIVE:
        return following not in _NOT_AFTER_ALTERNATIVE
    return word in _NO and following in ("", "\n")


def _alternative_to(text: str, start: int) -> bool:
    """Whether the term at `start` follows "alternative (W) to": "alternative naturelle à l'X"."""
    words = text[max(0, start - 40) : start].split()[-4:]
    if words and words[-1] in _ELIDED:  # an elided article, "l'" read as "i"
        words.pop()
    return bool(words) and words[-1] in _ALTERNATIVE_TO and any(w in _ALTERNATIVE for w in words[-3:-1])


def _free_shipping(text: str, start: int, stop: int) -> bool:
    """Whether a term saying "X free" is read across "X, free shipping" (the words view has no
    commas): then it says nothing of X, as "X free" does not negate X there (see `negated`)."""
    if not text.endswith(_FREE_SUFFIX, start, stop):
        return False
    return text[stop + 1 : stop + 24].split(" ", 1)[0] in _NOT_AFTER_FREE


def _list_goes_on(after: list[str], coordinators: frozenset[str] = _AND) -> bool:
    """Whether `after` (the words after a term) continue a list: a coordinator, first or after
    one more item, then the next item ("X und Y", "X, Y und Z"). A number just after the term is
    its dose ("hydroquinone 4 % et acide kojique"): the product has it."""
    if after[:1] and after[0][0].isdigit():
        return False
    for index, word in enumerate(after[:2]):
        if _coordinator(after, index, coordinators):
            return index + 1 < len(after)
        if word in _BUT:
            return False
    return False


def _coordinator(words: list[str], index: int, coordinators: frozenset[str] = _AND) -> bool:
    """Whether words[index] joins the items of a list."""
    if index < 0 or words[index] not in coordinators:
        return False
    return not (words[index] == _ELIDED_L and index > 0 and words[index - 1] in _ELISION_HOSTS)


def _negated_list(
    items: list[str], reach: int = _LIST_REACH, negations: dict[str, tuple[str, ...]] = _NEGATION_ENDS
) -> bool:
    """Whether `items` (the words before the coordinator) end with a list a negation opens."""
    for length in range(1, min(len(items), reach + 1)):
        if items[-length] in _BUT:
            return False
        head = " " + " ".join(items[max(0, len(items) - length - 2) : len(items) - length]) + " "
        if _ends_with_negation(head, negations):
            return True
    return False


#: The word sets negated() reads, in the order of their bits in engine/_lexscan.c (which gets
#: them from here: a new cue word needs no change there).
CUE_SETS: tuple[Iterable[str], ...] = (
    _NEGATION_ENDS,
    _DUTCH_NEGATIONS,
    _AFTER_STARTS,
    _FREE,
    _NOT_AFTER_FREE,
    _UNSEEN_BY,
    _ALTERNATIVE,
    _ALTERNATIVE_TO,
    _NOT_AFTER_ALTERNATIVE,
    _NO,
    _CUES_AFTER,
    _AND,
    _ARTICLES,
    _DUTCH_OR,
    _ELISION_HOSTS,
    _BUT,
    _ELIDED,
    (_ELIDED_L,),
)


def _native_tables() -> None:
    """Hand the cue words to engine._lexscan: each word with a bit per set of CUE_SETS it is
    in, and the phrases of the negation and "absent after" tables it ends or starts."""
    masks: dict[str, int] = {}
    for bit, words in enumerate(CUE_SETS):
        for word in words:
            masks[word] = masks.get(word, 0) | 1 << bit

    def phrases(table: dict[str, tuple[str, ...]], word: str) -> tuple[bytes, ...] | None:
        found = table.get(word)
        return None if found is None else tuple(phrase.encode() for phrase in found)

    entries = [
        (
            word.encode(),
            mask,
            phrases(_NEGATION_ENDS, word),
            phrases(_DUTCH_NEGATIONS, word),
            phrases(_AFTER_STARTS, word),
        )
        for word, mask in masks.items()
    ]
    _lexscan.set_tables(
        entries, _ALTERNATIVE_STEM.encode(), _FREE_SUFFIX.encode(), _REACH_BEFORE, _LIST_REACH, _MIDDLE_REACH
    )


_native_tables()


def _negated_or_free_shipping(text: str, start: int, stop: int) -> bool:
    """Whether a term at [start, stop) of a words view says nothing of the product (the
    definition, in Python; engine._lexscan.negated gives the same for ASCII text)."""
    return negated(text, start, stop) or _free_shipping(text, start, stop)


class _Entry(NamedTuple):
    lexicon: str
    term: str
    excluded: bool
    prefix: bool


class TermHit(NamedTuple):
    """A term found in a words view: [start, end) exclude the padding spaces."""

    lexicon: str
    term: str
    start: int
    end: int


def term_key(term: str) -> tuple[str, bool]:
    """The automaton key of a lexicon term, and whether it matches word prefixes."""
    prefix = term.endswith("*")
    view = textnorm.words(textnorm.fold(term.rstrip("*")))
    return (view.rstrip(" ") if prefix else view), prefix


class LexiconIndex:
    """Finds every lexicon's terms in a text in one pass (a DFA over bytes for ASCII text, the
    usual case once folded; over characters otherwise)."""

    def __init__(self, lexicons: Iterable[Lexicon]) -> None:
        entries: dict[str, list[_Entry]] = {}
        for lexicon in lexicons:
            for excluded, terms in ((False, lexicon.terms), (True, lexicon.exclude)):
                for term in (term for language in terms.values() for term in language):
                    key, prefix = term_key(term)
                    found = entries.setdefault(key, [])
                    # The same word in several languages of a lexicon is one entry.
                    if not any(
                        (e.lexicon, e.excluded, e.prefix) == (lexicon.lexicon, excluded, prefix)
                        for e in found
                    ):
                        found.append(_Entry(lexicon.lexicon, term, excluded, prefix))
        self._keys = list(entries)
        # Per key: whether it matches word prefixes (all its entries alike: a prefix key has no
        # closing space), the (lexicon, term) it finds, and the lexicons it is a lookalike of.
        self._keys_info = [
            (
                entries[key][0].prefix,
                tuple((e.lexicon, e.term) for e in entries[key] if not e.excluded),
                tuple(e.lexicon for e in entries[key] if e.excluded),
            )
            for key in self._keys
        ]
        self._bytes: ahocorasick_rs.BytesAhoCorasick | None = None
        self._text: ahocorasick_rs.AhoCorasick | None = None
        if self._keys:
            standard, dfa = ahocorasick_rs.MatchKind.Standard, ahocorasick_rs.Implementation.DFA
            self._bytes = ahocorasick_rs.BytesAhoCorasick(
                [key.encode() for key in self._keys], matchkind=standard, implementation=dfa
            )
            self._text = ahocorasick_rs.AhoCorasick(self._keys, matchkind=standard, implementation=dfa)

    def find(self, view: str) -> list[TermHit]:
        """Hits in one padded words view, lookalikes removed."""
        return [TermHit(lexicon, term, start, end) for _, lexicon, term, start, end in self.find_all((view,))]

    def find_all(
        self, views: Sequence[str], check_time: Callable[[], None] = lambda: None
    ) -> list[tuple[int, str, str, int, int]]:
        """Hits in several padded words views (a listing's fields) in one automaton pass:
        (view number, lexicon, term, start, end), positions within that view. `check_time` is
        called every CHECK_EVERY raw matches (it raises to stop a listing over its budget).

        The views are searched joined by newlines, which no key holds, so no hit spans two.
        """
        if self._bytes is None or self._text is None or not views:
            return []
        joined = views[0] if len(views) == 1 else "\n".join(views)
        ascii = joined.isascii()
        if ascii:
            found = self._bytes.find_matches_as_indexes(joined.encode("ascii"), overlapping=True)
        else:
            found = self._text.find_matches_as_indexes(joined, overlapping=True)
        if not found:
            return []
        starts = [0, *itertools.accumulate(len(view) + 1 for view in views)]  # of each view
        if ascii:  # the same in C (None: left to the definition)
            kept = _lexscan.sort_hits(
                joined, found, self._keys_info, starts, MAX_HITS_PER_FIELD, check_time, CHECK_EVERY
            )
            if kept is not None:
                return kept
        return self.sorted_hits(joined, found, starts, check_time)

    def sorted_hits(
        self,
        joined: str,
        found: list[tuple[int, int, int]],
        starts: list[int],
        check_time: Callable[[], None] = lambda: None,
    ) -> list[tuple[int, str, str, int, int]]:
        """The hits find_all keeps of the automaton's raw matches in `joined` (the views joined,
        each starting at `starts`): the definition, in Python; engine._lexscan.sort_hits does the
        same for ASCII text."""
        # Positions in the joined text; a key's entries share its span, so the view it is in
        # and whether a negation precedes it are worked out once per raw match.
        hits: list[tuple[int, str, str, int, int, int]] = []  # (…, raw match number)
        excluded: dict[str, list[tuple[int, int]]] = {}  # lexicon → its lookalike phrases
        for count, (index, start, end) in enumerate(found, 1):
            if count % CHECK_EVERY == 0:
                check_time()
            prefix, terms, lookalikes_of = self._keys_info[index]
            # Keys are padded: ` term ` (the term ends before the last space) or ` term`.
            stop = joined.find(" ", end) if prefix else end - 1
            for lexicon in lookalikes_of:
                excluded.setdefault(lexicon, []).append((start + 1, stop))
            if terms:
                number = bisect.bisect_right(starts, start) - 1
                hits += [(number, lexicon, term, start + 1, stop, count) for lexicon, term in terms]
        lookalikes = {lexicon: _Spans(spans) for lexicon, spans in excluded.items()}
        negations: dict[int, bool] = {}
        kept: list[tuple[int, str, str, int, int]] = []
        counts: dict[tuple[int, str], int] = {}
        for number, lexicon, term, start, stop, raw in hits:
            count = counts.get((number, lexicon), 0)
            if count >= MAX_HITS_PER_FIELD:
                continue
            covering = lookalikes.get(lexicon)
            if covering is not None and covering.cover(start, stop):
                continue
            negation = negations.get(raw)
            if negation is None:
                negation = negations[raw] = _negated_or_free_shipping(joined, start, stop)
            if negation:
                continue
            counts[number, lexicon] = count + 1
            kept.append((number, lexicon, term, start - starts[number], stop - starts[number]))
        return kept


class _Spans:
    """Spans, asked whether one of them covers a given span in O(log n) (the lookalike phrases
    of a text can be as many as its hits)."""

    def __init__(self, spans: list[tuple[int, int]]) -> None:
        spans.sort()
        self._starts = [start for start, _ in spans]
        self._reach = list(itertools.accumulate((end for _, end in spans), max))

    def cover(self, start: int, stop: int) -> bool:
        before = bisect.bisect_right(self._starts, start)  # spans starting at or before `start`
        return before > 0 and self._reach[before - 1] >= stop


def problems(lexicon: Lexicon) -> list[tuple[str, str]]:
    """(term, reason) for terms that fold to nothing or put `*` anywhere but the end."""
    found: list[tuple[str, str]] = []
    for terms in (*lexicon.terms.values(), *lexicon.exclude.values()):
        for term in terms:
            if "*" in term.rstrip("*") or term.endswith("**"):
                found.append((term, "'*' may only end a term"))
            elif not term_key(term)[0].strip():
                found.append((term, "the term has no letters or digits"))
    return found
