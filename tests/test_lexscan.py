"""engine._lexscan.negated (C) answers as engine.lexicons.negated (the definition, in Python) does.

Texts are words views made of the cue words themselves (every word of every cue table and
phrase), their neighbours' usual companions, digits, long words whose cut suffix is a cue
("xxxxsans"), and several fields joined by newlines, as LexiconIndex.find_all joins them; every
span of whole words is asked of both.
"""

from __future__ import annotations

import itertools
import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.corpus import generate
from tamis.engine import _lexscan, lexicons, load_bundle
from tamis.engine.lexicons import CUE_SETS, MAX_HITS_PER_FIELD, LexiconIndex, _negated_or_free_shipping
from tamis.engine.listing import validate_listing
from tamis.engine.model import Lexicon
from tamis.engine.textscan import TextFindings
from tests.conftest import POLICIES, samples

#: The cue words in their words-view form; the ASCII ones, since engine._lexscan reads ASCII text
#: only (a cue beyond ASCII never occurs in ASCII text; other text goes to the definition).
CUES = sorted(
    {word for words in CUE_SETS for word in words if word.isascii()}
    | {
        word
        for table in (lexicons._NEGATION_ENDS, lexicons._DUTCH_NEGATIONS, lexicons._AFTER_STARTS)
        for phrases in table.values()
        for phrase in phrases
        for word in phrase.split()
        if word.isascii()
    }
)
OTHERS = ["nicotine", "tabac", "hydroquinone", "mercure", "shipping", "4", "12mg", "x", "crema", "produit"]
#: Words whose suffix cut by a window is a cue ("artisans" cut to "sans", "bohne" to "ohne").
CUT = [prefix + cue for prefix in ("arti", "b", "xxxxxxxxxxxxxxx") for cue in ("sans", "ohne", "and", "free")]
WORD = st.one_of(
    st.sampled_from(CUES),
    st.sampled_from(OTHERS + CUT),
    st.text("abdefinorstu019", min_size=1, max_size=30),
)
VIEW = st.lists(WORD, max_size=30).map(lambda words: " " + " ".join(words) + " " if words else " ")


def spans(text: str) -> list[tuple[int, int]]:
    """Every [start, stop) of one to three whole words (stop: the space after the last)."""
    starts = [i + 1 for i, c in enumerate(text[:-1]) if c == " " and text[i + 1] not in " \n"]
    found = []
    for start in starts:
        stop = start
        for _ in range(3):
            stop = text.find(" ", stop + 1 if stop > start else stop)
            if stop < 0:
                break
            found.append((start, stop))
    return found


def assert_agree(text: str) -> None:
    for start, stop in spans(text):
        expected = _negated_or_free_shipping(text, start, stop)
        assert _lexscan.negated(text, start, stop) is expected, (text, start, stop, text[start:stop])


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(VIEW, min_size=1, max_size=3).map("\n".join))
def test_native_negation_agrees_with_the_definition(text: str) -> None:
    assert_agree(text)


def test_native_negation_agrees_on_every_phrase_around_a_term() -> None:
    """Each negation and "absent after" phrase, before and after a term, alone and in lists."""
    before = [phrase.strip() for phrase in lexicons.NEGATIONS if phrase.isascii()]
    after = [phrase.strip() for phrase in lexicons._AFTER if phrase.isascii()] + [
        f"{word} {other}"
        for word in lexicons._CUES_AFTER
        if word.isascii()
        for other in ("", "shipping", "by", "x")
    ]
    count = 0
    for left, right in itertools.product(["", *before], ["", *after]):
        for middle in ("nicotine", "nicotine et tabac", "tabac ni nicotine", "nicotine und tabak free"):
            text = f" produit {left} {middle} {right} ".replace("  ", " ").replace("  ", " ")
            assert_agree(text)
            count += 1
    assert count > 10_000


def test_native_negation_agrees_on_the_fuzzed_text_the_engine_meets() -> None:
    """Random runs of cue words with no structure, longer than every window."""
    rng = random.Random(15)
    vocabulary = CUES + OTHERS + CUT
    for _ in range(300):
        views = [" ".join(rng.choices(vocabulary, k=rng.randint(1, 60))) for _ in range(rng.randint(1, 3))]
        assert_agree("\n".join(f" {view} " for view in views))


def test_native_negation_declines_what_it_does_not_read() -> None:
    """Beyond ASCII, or a span outside the text: None, and the caller asks the definition."""
    assert _lexscan.negated(" sans nicotiné ", 6, 14) is None
    assert _lexscan.negated(" sans x ", 6, 40) is None
    assert _lexscan.negated(" sans x ", 6, 7) is True


def test_find_all_uses_the_same_answers_either_way() -> None:
    """A term negated in ASCII text stays negated when the text holds one non-ASCII word."""
    index = LexiconIndex([Lexicon(lexicon="nicotine", terms={"fr": ["nicotine"]})])
    for text, kept in (
        (" sans nicotine ", 0),
        (" tabak und nicotine free ", 0),
        (" nicotine free shipping ", 1),
        (" nicotine et tabac ", 1),
    ):
        assert len(index.find(text)) == len(index.find(text + "\n ж ")) == kept, text


# engine._lexscan.sort_hits (C) keeps the hits LexiconIndex.sorted_hits (the definition) keeps,
# over the shipped pack's automaton: lookalike phrases, MAX_HITS_PER_FIELD, negations, views.


def shipped_index() -> LexiconIndex:
    return LexiconIndex(load_bundle(POLICIES).policy_set.lexicons.values())


INDEX = shipped_index()
#: Terms and lookalike phrases of the shipped pack, in their words-view form (the ASCII ones:
#: sort_hits declines other text).
KEYS = sorted({key.strip() for key in INDEX._keys if key.isascii()})


def assert_same_hits(views: list[str]) -> list[tuple[int, str, str, int, int]]:
    joined = "\n".join(views)
    assert joined.isascii()
    found = INDEX._bytes.find_matches_as_indexes(joined.encode(), overlapping=True)  # type: ignore[union-attr]
    starts = [0, *itertools.accumulate(len(view) + 1 for view in views)]
    expected = INDEX.sorted_hits(joined, found, starts)
    native = _lexscan.sort_hits(
        joined, found, INDEX._keys_info, starts, MAX_HITS_PER_FIELD, lambda: None, 1024
    )
    assert native == expected, views
    assert INDEX.find_all(views) == expected
    return expected


def test_native_hit_sorting_agrees_on_the_corpus_and_the_samples() -> None:
    bundle = load_bundle(POLICIES)
    scanner = bundle.scanner
    kept = 0
    for raw in [*samples(), *generate(1500)]:
        listing = validate_listing(raw, fields=bundle.policy_set.fields)
        findings = TextFindings(listing)
        views = [
            text.words()
            for name in scanner._lexicon_fields
            if (text := findings.text(name, words=True)) is not None
        ]
        if views and "\n".join(views).isascii():
            kept += len(assert_same_hits(views))
    assert kept > 1000


KEY_OR_CUE = st.one_of(st.sampled_from(KEYS), st.sampled_from(CUES), st.sampled_from(OTHERS + CUT))
SHIPPED_VIEW = st.lists(KEY_OR_CUE, min_size=1, max_size=25).map(lambda words: " " + " ".join(words) + " ")


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(SHIPPED_VIEW, min_size=1, max_size=4))
def test_native_hit_sorting_agrees_on_terms_lookalikes_and_cues(views: list[str]) -> None:
    assert_same_hits(views)


def test_native_hit_sorting_agrees_past_the_cap_and_under_lookalikes() -> None:
    """A term repeated past MAX_HITS_PER_FIELD, inside and outside its lookalike phrases, over
    several views, and the budget checked every CHECK_EVERY raw matches."""
    rng = random.Random(7)
    keys = zip(INDEX._keys, INDEX._keys_info, strict=True)
    lookalikes = [key.strip() for key, info in keys if info[2] and key.isascii()]
    assert lookalikes
    for _ in range(40):
        words = rng.choices(lookalikes + KEYS[:200] + CUES, k=400)
        views = [" " + " ".join(words[i : i + 100]) + " " for i in range(0, 400, 100)]
        hits = assert_same_hits(views)
        assert len(hits) <= MAX_HITS_PER_FIELD * len(views) * len({h[1] for h in hits})
    calls = []
    text = " " + " ".join(["nicotine"] * 3000) + " "
    found = INDEX._bytes.find_matches_as_indexes(text.encode(), overlapping=True)  # type: ignore[union-attr]
    _lexscan.sort_hits(text, found, INDEX._keys_info, [0, len(text) + 1], 8, lambda: calls.append(1), 1024)
    assert len(calls) == len(found) // 1024 > 0


def test_cues_beyond_ascii_negate_through_the_definition() -> None:
    """A negation written beyond ASCII ("χωρίς") makes the text non-ASCII: find_all asks the
    definition, which reads it, and the term does not count."""
    index = LexiconIndex([Lexicon(lexicon="nicotine", terms={"fr": ["nicotine"]})])
    for phrase in (phrase for phrase in lexicons.NEGATIONS if not phrase.isascii()):
        assert index.find(f"{phrase}nicotine ") == [], phrase
        assert len(index.find(f"{phrase}x nicotine ")) == 1, phrase
