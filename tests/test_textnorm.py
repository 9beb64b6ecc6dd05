"""Text folding defeats evasions, and every position maps back into the original text."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tamis.engine import textnorm
from tamis.engine.lexicons import LexiconIndex
from tamis.engine.model import Lexicon
from tools import generate_foldtables


def view(text: str) -> str:
    return textnorm.words(textnorm.fold(text))


@pytest.mark.parametrize(
    ("written", "reads"),
    [
        ("LOLI", " ioii "),  # case folded, l and i one letter
        ("Poupée", " poupee "),  # accents dropped
        ("ＬＯＬＩ", " ioii "),  # fullwidth forms (compatibility decomposition)
        ("lo\u200bli", " ioii "),  # zero-width space removed
        ("lo\u00adli", " ioii "),  # soft hyphen removed
        ("ІоІі", " ioii "),  # Cyrillic lookalikes
        ("l0l1", " ioii "),  # leetspeak inside a word
        ("s3x d0ll", " sex doii "),
        ("l o l i", " ioii "),  # letters split by spaces
        ("l.o.l.i", " ioii "),  # … or dots
        ("l-0-l-1", " ioii "),  # split and leet together
        ("l'arme", " i arme "),  # French elision
        ("l’arme", " i arme "),  # typographic apostrophe
        ("ﬁne Straße", " fine strasse "),  # ligature and sharp s
        ("sex,  doll!!", " sex doii "),  # punctuation blanked, spaces collapsed
        ("lo\u034fl\ufe0fi\U000e0069", " ioii "),  # grapheme joiner, variation selector, tag
        ("lo\x00l\x1bi", " ioii "),  # controls inside a word are deleted, not spaced
        ("sex\tdoll\nloli", " sex doii ioii "),  # … but tabs and line breaks still separate
        ("L\u0585\u13a5i", " ioii "),  # Armenian oh, Cherokee v (UTS #39 confusables)
        ("ꜱᴇx ᴅᴏʟʟ", " sex doii "),  # Latin small capitals
        ("rn", " rn "),  # ASCII is never remapped by the confusables (UTS #39 reads `rn` as `m`)
    ],
)
def test_evasions_fold_to_the_plain_word(written: str, reads: str) -> None:
    """Each evasion reads as the plain spelling in the words view."""
    assert view(written) == reads


def test_fold_tables_are_generated_from_the_unicode_data() -> None:
    """engine/foldtables.py is exactly what its generator writes from the packaged data."""
    assert generate_foldtables.source() == generate_foldtables.OUTPUT.read_text(encoding="utf-8")


def test_quantities_are_not_read_as_leetspeak() -> None:
    """`100cm` and `36mg` keep their digits; only letter-then-digit hides leetspeak."""
    assert view("100cm 36mg/ml") == " 100cm 36mg mi "
    assert textnorm.fold("E-Liquide 36MG/ML") == "e-liquide 36mg/ml"


def test_two_single_letters_are_not_joined() -> None:
    """Ordinary French ("il y a") is not mistaken for split letters."""
    assert view("il y a") == " ii y a "


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_fast_fold_equals_the_reference(text: str) -> None:
    """The C-speed path folds exactly like folding each character on its own."""
    assert textnorm.fold(text) == "".join(textnorm.fold_char(char) for char in text)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_fold_offsets_point_at_the_source_character(text: str) -> None:
    """Each folded character comes from the source character its offset names."""
    folded = textnorm.fold(text)
    offsets = textnorm.fold_offsets(text) or list(range(len(folded)))
    assert len(offsets) == len(folded)
    for position, offset in enumerate(offsets):
        assert folded[position] in textnorm.fold_char(text[offset])


WORDY = st.text(alphabet=st.sampled_from("abl0 1.-'ÉéІ\u200b,s3x\x00\u034f\ufe0f\U000e0061օ"), max_size=40)


@settings(max_examples=400, deadline=None)
@given(WORDY)
def test_words_positions_map_to_their_source(text: str) -> None:
    """Each letter of the words view maps to a folded character that becomes that letter."""
    folded = textnorm.fold(text)
    words = textnorm.words(folded)
    mapping = textnorm.WordsMap(folded)
    blanked = textnorm._blank(textnorm._deleet(folded))
    for position, char in enumerate(words):
        if char == " ":
            continue
        source = blanked[mapping.folded_index(position)]
        assert char in (source, source.translate(textnorm._LEET))


LATIN1_TRICKS = st.text(
    alphabet=st.sampled_from("abl0 1.-_*/+$@,iLS3x\n!ø°«»·ÿé×_\x00\x1b\xad\x9b\t"), max_size=50
)


@settings(max_examples=1500, deadline=None)
@given(LATIN1_TRICKS)
def test_c_words_equal_the_reference(text: str) -> None:
    """For Latin-1 text, the C words view is exactly the Python definition."""
    folded = textnorm.fold(text)
    assert textnorm.words_latin1(folded) == textnorm.reference_words(folded)


# Latin-1 (where the C pass works) mixed with what it must leave to Python: characters that
# vanish or fold to several, default-ignorables, UTS #39 confusables, combining marks, bidi
# controls, astral characters, and any other character there is (surrogates excepted).
TRICKY = st.text(
    alphabet=st.one_of(
        st.characters(max_codepoint=0xFF),
        st.sampled_from(
            "\u00df\u00b5\u00ad\u200b\u200d\u2060\ufeff\u034f\ufe0f\U000e0061\u115f"  # ß µ, invisible
            "\u043e\u0585\u13a5\u0406\u03bf\uff2c\ufb01\u0153"  # confusables, fullwidth, ligatures
            "\u0301\u0327\u20dd"  # combining marks
            "\u202e\u202d\u200f\u2066\u061c"  # bidi controls
            "\U0001d400\U0001f600\U0001f3fb\U00020000\u2800"  # astral, skin tone, braille blank
        ),
        st.characters(exclude_categories=("Cs",)),
    ),
    max_size=60,
)


@settings(max_examples=1500, deadline=None)
@given(TRICKY)
def test_one_pass_fold_and_words_equal_the_reference(text: str) -> None:
    """The one-pass folded and words views are the character-by-character definition, and the
    offsets of the folded text point at the source character of each folded one."""
    reference = "".join(textnorm.fold_char(char) for char in text)
    folded, words = textnorm.fold_words(text)
    assert (folded, words) == (reference, textnorm.reference_words(reference))
    offsets = textnorm.fold_offsets(text) or list(range(len(folded)))
    assert len(offsets) == len(folded)
    for position, offset in enumerate(offsets):
        assert folded[position] in textnorm.fold_char(text[offset])


def test_the_c_pass_leaves_wider_folds_to_python() -> None:
    """Latin-1 characters that fold to several characters or beyond Latin-1 are Python's."""
    assert textnorm.fold_words_latin1("Straße") is None
    assert textnorm.fold_words_latin1("5µg") is None
    assert textnorm.fold_words_latin1("l0l1\xad!") == ("l0l1!", " ioii ")
    assert textnorm.fold_words("Straße 5µg") == ("strasse 5\u03bcg", " strasse 5\u03bcg ")


def test_c_words_decline_wider_text() -> None:
    """Text beyond Latin-1 is left to the Python definition."""
    assert textnorm.words_latin1("кукла") is None
    folded = textnorm.fold("Кукла l.o.l.i")
    assert textnorm.words(folded) == textnorm.reference_words(folded) == " kyклa ioii "


def find(text: str, *terms: str, exclude: tuple[str, ...] = ()) -> list[str]:
    """The original text of every lexicon hit in `text`."""
    lexicon = Lexicon(lexicon="l", terms={"en": terms}, exclude={"en": exclude} if exclude else {})
    folded = textnorm.fold(text)
    words = textnorm.words(folded)
    mapping = textnorm.WordsMap(folded)
    offsets = textnorm.fold_offsets(text)
    found = []
    for hit in LexiconIndex([lexicon]).find(words):
        start, end = mapping.folded_index(hit.start), mapping.folded_index(hit.end - 1) + 1
        if offsets is not None:
            start, end = offsets[start], offsets[end - 1] + 1
        found.append(text[start:end])
    return found


def test_evidence_highlights_the_original_words() -> None:
    """Offsets of a hit select the seller's own spelling, evasions included."""
    assert find("Vintage S.E.X D-0-L-L, 100cm", "sex doll") == ["S.E.X D-0-L-L"]
    assert find("Jolie ІоІі doll", "loli") == ["ІоІі"]
    assert find("« poupée  sexuelle »", "poupée sexuelle") == ["poupée  sexuelle"]
    assert find("ﬁne Straße knife", "strasse knife") == ["Straße knife"]


def test_whole_words_only() -> None:
    """A term does not match inside a longer word."""
    assert find("minimal mini", "mini") == ["mini"]


def test_prefix_terms_match_the_whole_word() -> None:
    """A term ending in `*` matches any word it starts, and reports the whole word."""
    assert find("pedopornographique content", "pedopornograph*") == ["pedopornographique"]


def test_exclusions_mask_only_their_own_occurrence() -> None:
    """A lookalike phrase hides the term inside it, not the same term elsewhere."""
    assert find("doll house for kids", "doll", exclude=("doll house",)) == []
    assert find("doll house and a sex doll", "doll", exclude=("doll house",)) == ["doll"]
