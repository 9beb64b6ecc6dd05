"""fold_offsets finds the characters that do not fold one to one with a character class, and
still one character at a time once the process has seen too many of them: the same offsets."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tamis.engine import textnorm

ODD = "ßﬁ\u00ad\u200bœ…ǅ①\u0301"


def one_at_a_time(text: str) -> list[int]:
    return [index for index, char in enumerate(text) for _ in textnorm.fold(char)]


@given(st.text(alphabet=st.sampled_from("ab é1 " + ODD), max_size=60))
def test_offsets_are_those_of_each_character_in_turn(text: str) -> None:
    folded = textnorm.fold(text)
    offsets = textnorm.fold_offsets(text)
    assert (offsets or list(range(len(folded)))) == one_at_a_time(text)
    assert len(offsets or folded) == len(folded)


def test_past_the_limit_characters_are_mapped_one_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    text = "Straße ﬁne\u200b cœur …" * 3
    textnorm.fold(text)
    expected = textnorm.fold_offsets(text)
    monkeypatch.setattr(textnorm, "MAX_UNEVEN", 0)
    assert textnorm._uneven() is None
    assert textnorm.fold_offsets(text) == expected == one_at_a_time(text)
