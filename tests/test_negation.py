"""A term the text negates ("sans X", "X-free", "not for kids") is not evidence of X."""

from __future__ import annotations

import pytest

from tamis.engine import textnorm
from tamis.engine.lexicons import LexiconIndex
from tamis.engine.model import Lexicon

INDEX = LexiconIndex(
    [
        Lexicon(lexicon="nicotine", terms={"en": ("nicotine",), "fr": ("nicotine",), "de": ("nikotin",)}),
        Lexicon(lexicon="for_children", terms={"en": ("for children", "for kids"), "fr": ("pour enfants",)}),
        Lexicon(lexicon="mercury", terms={"en": ("mercury",), "fr": ("mercure",)}),
    ]
)


def found(text: str) -> set[str]:
    return {hit.lexicon for hit in INDEX.find(textnorm.words(textnorm.fold(text)))}


@pytest.mark.parametrize(
    "text",
    [
        "E-liquide sans nicotine 10 ml",
        "Nicotine-free herbal blend",
        "Liquid ohne Nikotin",
        "Crème éclaircissante, ni mercure ni hydroquinone",
        "Love doll 100 cm, not for kids",
        "Mercury free thermometer",
        "Cream without mercury",
        "Nicotine free, free shipping",
        "Ce liquide ne contient pas nicotine",
    ],
)
def test_negated_terms_do_not_count(text: str) -> None:
    assert found(text) == set()


@pytest.mark.parametrize(
    ("text", "lexicon"),
    [
        ("Nicotine salt 20 mg, free shipping", "nicotine"),
        ("Mercury cream, free delivery", "mercury"),
        ("Poupée pour enfants, sans piles", "for_children"),
        ("No box. Nicotine 50 mg", "nicotine"),
    ],
)
def test_terms_near_an_unrelated_negation_still_count(text: str, lexicon: str) -> None:
    """Only the word just before the term (or "free" just after) negates it."""
    assert lexicon in found(text)
