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

from tamis.engine import _lexscan, lexicons
from tamis.engine.lexicons import CUE_SETS, LexiconIndex, _negated_or_free_shipping
from tamis.engine.model import Lexicon

CUES = sorted(
    {word for words in CUE_SETS for word in words}
    | {
        word
        for table in (lexicons._NEGATION_ENDS, lexicons._DUTCH_NEGATIONS, lexicons._AFTER_STARTS)
        for phrases in table.values()
        for phrase in phrases
        for word in phrase.split()
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
    before = [phrase.strip() for phrase in lexicons.NEGATIONS]
    after = [phrase.strip() for phrase in lexicons._AFTER] + [
        f"{word} {other}" for word in lexicons._CUES_AFTER for other in ("", "shipping", "by", "x")
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
