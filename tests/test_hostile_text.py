"""Hostile text: invisible characters, controls and lookalikes from other scripts do not turn a
blocked listing into an allowed one (issue 10, finding 4), through the real engine and the
shipped pack."""

from __future__ import annotations

import unicodedata
from datetime import date
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tamis.engine import Evaluator, textnorm
from tests.test_pack import clean

DAY = date(2025, 11, 20)
BRASS_KNUCKLES = "fr.csi.r311-2.a1-14.brass-knuckles"
CHILDLIKE_DOLL = "fr.penal.227-23.childlike-sex-doll"


def listing(title: str, description: str = "") -> dict[str, Any]:
    """A listing of a fully identified French trader, shipped to France."""
    return clean(title, ["FR"], id="hostile", **({"description": description} if description else {}))


def policies(evaluator: Evaluator, title: str, description: str = "") -> tuple[str, set[str]]:
    verdict = evaluator.evaluate(listing(title, description), DAY)
    return verdict.decision.value, {match.policy for match in verdict.matches}


#: Invisible characters that are not in category Cf (the old folding kept them) and controls.
INVISIBLE = {
    "combining grapheme joiner": "\u034f",
    "variation selector 16": "\ufe0f",
    "variation selector 1": "\ufe00",
    "variation selector 17": "\U000e0100",
    "hangul filler": "\u3164",
    "hangul choseong filler": "\u115f",
    "halfwidth hangul filler": "\uffa0",
    "khmer vowel inherent aq": "\u17b4",
    "mongolian free variation selector": "\u180b",
    "braille blank": "\u2800",
    "tag letter a": "\U000e0061",
    "emoji modifier": "\U0001f3fb",
    "nul": "\x00",
    "escape": "\x1b",
    "delete": "\x7f",
    "c1 control": "\x9b",
}


def sprinkle(text: str, char: str) -> str:
    """`char` between every two letters of every word."""
    return " ".join(char.join(word) for word in text.split(" "))


@pytest.mark.parametrize("char", INVISIBLE.values(), ids=INVISIBLE.keys())
def test_invisible_characters_inside_words_keep_brass_knuckles_blocked(shipped: Evaluator, char: str) -> None:
    decision, found = policies(shipped, sprinkle("Coup de poing américain en acier", char))
    assert decision == "block" and BRASS_KNUCKLES in found


@pytest.mark.parametrize("char", INVISIBLE.values(), ids=INVISIBLE.keys())
def test_invisible_characters_inside_words_keep_childlike_dolls_blocked(
    shipped: Evaluator, char: str
) -> None:
    title, description = sprinkle("Love doll loli 125 cm", char), sprinkle("Full body TPE sex doll", char)
    decision, found = policies(shipped, title, description)
    assert decision == "block" and CHILDLIKE_DOLL in found


#: Lookalikes of Latin letters from other scripts, none of them in the old hand-written table.
LOOKALIKES = {
    "armenian": ("Coup de p\u0585ing américain", "L\u0585ve d\u0585ll l\u0585li 125 cm"),
    "cyrillic": ("Coup de poing américain", "Lоvе dоll ӏoӏi 125 cm"),  # о е ӏ
    "greek": ("Cοup de pοing américain", "Lοve dοll lοli 125 cm"),  # ο
    "cherokee": ("Coup de poing \u13aamericain", "Love doll loli 125 cm \u13aa"),
    "fullwidth": ("Ｃｏｕｐ ｄｅ ｐｏｉｎｇ américain", "Ｌｏｖｅ ｄｏｌｌ ｌｏｌｉ 125 cm"),
    "mathematical bold": ("𝐂𝐨𝐮𝐩 𝐝𝐞 𝐩𝐨𝐢𝐧𝐠 américain", "𝐋𝐨𝐯𝐞 𝐝𝐨𝐥𝐥 𝐥𝐨𝐥𝐢 125 cm"),
    "latin small capitals": ("ᴄᴏᴜᴘ ᴅᴇ ᴘᴏɪɴɢ américain", "ʟᴏᴠᴇ ᴅᴏʟʟ ʟᴏʟɪ 125 cm"),
    "regional indicators": ("🇨🇴🇺🇵 🇩🇪 🇵🇴🇮🇳🇬 américain", "🇱🇴🇻🇪 🇩🇴🇱🇱 🇱🇴🇱🇮 125 cm"),
    "parenthesized": ("⒞⒪⒰⒫ ⒟⒠ ⒫⒪⒤⒩⒢ américain", "⒧⒪⒱⒠ ⒟⒪⒧⒧ ⒧⒪⒧⒤ 125 cm"),
    "letters with a stroke": ("Coup de pøing amerıcain", "Løve døłł łøłi 125 cm"),
}


@pytest.mark.parametrize(("knuckles", "doll"), LOOKALIKES.values(), ids=LOOKALIKES.keys())
def test_lookalikes_from_other_scripts_keep_listings_blocked(
    shipped: Evaluator, knuckles: str, doll: str
) -> None:
    decision, found = policies(shipped, knuckles)
    assert decision == "block" and BRASS_KNUCKLES in found
    decision, found = policies(shipped, doll, "Full body TPE sex doll")
    assert decision == "block" and CHILDLIKE_DOLL in found


def test_evidence_of_a_disguised_title_is_the_sellers_own_text(shipped: Evaluator) -> None:
    """Dropped characters still map evidence back to the original text."""
    title = "Coup\u034f de po\U000e0061ing am\x00éricain"
    verdict = shipped.evaluate(listing(title), DAY)
    (match,) = [match for match in verdict.matches if match.policy == BRASS_KNUCKLES]
    (evidence,) = match.evidence
    assert evidence.text == title[evidence.start : evidence.end] == title


DEFAULT_IGNORABLE = [
    chr(code)
    for first, last in (
        (0x00AD, 0x00AD),
        (0x034F, 0x034F),
        (0x061C, 0x061C),
        (0x115F, 0x1160),
        (0x17B4, 0x17B5),
        (0x180B, 0x180F),
        (0x200B, 0x200F),
        (0x202A, 0x202E),
        (0x2060, 0x206F),
        (0x3164, 0x3164),
        (0xFE00, 0xFE0F),
        (0xFEFF, 0xFEFF),
        (0xFFA0, 0xFFA0),
        (0xFFF0, 0xFFF8),
        (0x1BCA0, 0x1BCA3),
        (0x1D173, 0x1D17A),
        (0xE0000, 0xE0FFF),
    )
    for code in range(first, last + 1)
]


def test_every_default_ignorable_code_point_folds_to_nothing() -> None:
    """Default_Ignorable_Code_Point (DerivedCoreProperties.txt), the braille blank and emoji
    skin-tone modifiers vanish from the folded view."""
    extra = ["\u2800", *map(chr, range(0x1F3FB, 0x1F400))]
    assert [char for char in DEFAULT_IGNORABLE + extra if textnorm.fold_char(char)] == []


#: Blocked listings (title, description) and the policy that blocks them.
BLOCKED = [
    ("Coup de poing américain en acier", "", BRASS_KNUCKLES),
    ("Poing américain laiton", "", BRASS_KNUCKLES),
    ("Love doll loli 125 cm", "Full body TPE sex doll.", CHILDLIKE_DOLL),
]


@settings(max_examples=200, deadline=None)
@given(
    blocked=st.sampled_from(BLOCKED),
    char=st.sampled_from(DEFAULT_IGNORABLE + list(INVISIBLE.values())),
    where=st.lists(st.integers(min_value=0), min_size=1, max_size=4),
)
def test_inserting_ignorables_anywhere_keeps_a_listing_blocked(
    shipped: Evaluator, blocked: tuple[str, str, str], char: str, where: list[int]
) -> None:
    title, description, policy = blocked
    for number in where:
        position = number % (len(title) + 1)
        title = title[:position] + char + title[position:]
    decision, found = policies(shipped, title, description)
    assert decision == "block" and policy in found, unicodedata.name(char, repr(char))


def test_folding_memory_is_bounded_and_offsets_stay_right(monkeypatch: pytest.MonkeyPatch) -> None:
    """A text of many distinct rare characters does not grow the fold caches past their limit,
    and characters folded without being memoised still map evidence back correctly."""
    monkeypatch.setattr(textnorm, "CACHE_LIMIT", len(textnorm._FOLD) + 5)
    text = "".join(chr(code) for code in range(0x3380, 0x33E0)) + " Ⅻ ㎏ poing"  # squared units: "kg"
    folded = textnorm.fold(text)
    assert len(textnorm._FOLD) <= textnorm.CACHE_LIMIT
    assert folded == "".join(textnorm.fold_char(char) for char in text)
    offsets = textnorm.fold_offsets(text)
    assert offsets is not None and len(offsets) == len(folded)
    assert text[offsets[folded.rindex("poing")]] == "p"
