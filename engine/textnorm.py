"""Text folding that defeats the tricks sellers use to slip past filters.

Two views of a text are matched:

* **folded** (regular expressions, numbers): Unicode compatibility decomposition, accents
  dropped, case folded, Cyrillic and Greek lookalikes mapped to Latin, zero-width characters
  removed, control characters and apostrophes turned into spaces (French elision:
  `l'arme` → `l arme`). It has one character per source character, except where a character
  decomposes (`ﬁ` → `fi`, `ß` → `ss`) or vanishes (zero-width).
* **words** (lexicons): the folded text with leetspeak read back inside words (`l0l1`, `s3x`),
  punctuation blanked, spaces collapsed, letters split by spaces or dots joined (`l o l i`,
  `l.o.l.i`), and `l` and `i` made one letter, so that `ІоІі` (Cyrillic, read as "loli") and
  `l0l1` both give the same word as `loli`. It is padded with one space on each side, so that
  whole-word search is a plain substring search for ` term `.

Listings are mostly Latin-script text, so the hot path works on ASCII with C-speed string and
bytes operations. Evidence must point into the *original* text: every step can also run
"tracked", carrying for each output character the index of the source character it came from.
That slower path runs only for fields that matched. Tests check that both paths agree.
"""

from __future__ import annotations

import bisect
import re
import unicodedata

# Shapes that read as Latin letters: Cyrillic and Greek, upper and lower case.
_HOMOGLYPHS = dict(
    zip(
        "АВЕЅІЈКМНОРСТХУаеѕіјорсухԁһӏѵΑΒΕΖΗΙΚΜΝΟΡΤΥΧαεικνορτυχ",
        "abesijkmhopctxyaesijopcyxdhlvabezhikmnoptyxaeikvoptux",
        strict=True,
    )
)
_APOSTROPHES = frozenset("'’‘`´ʼ′")


def _fold_once(char: str) -> str:
    category = unicodedata.category(char)
    if category == "Cf":  # zero-width joiners, soft hyphens, direction marks
        return ""
    if category in ("Cc", "Zl", "Zp") or char in _APOSTROPHES:
        return " "
    decomposed = unicodedata.normalize("NFKD", char)
    kept = "".join(c for c in decomposed if not unicodedata.combining(c))
    return "".join(_HOMOGLYPHS.get(c, c) for c in kept).casefold().lower()


def fold_char(char: str) -> str:
    """What one code point becomes in the folded view; every output character folds to itself."""
    result = _fold_once(char)
    if result == char:
        return result
    return "".join(c if c == char else fold_char(c) for c in result)


class _FoldCache(dict[str, str]):
    """fold_char, memoised; remembers the characters that do not fold one to one."""

    def __init__(self) -> None:
        super().__init__()
        self.uneven: set[str] = set()

    def __missing__(self, char: str) -> str:
        folded = fold_char(char)
        self[char] = folded
        if len(folded) != 1:
            self.uneven.add(char)
        return folded


_FOLD = _FoldCache()
_ASCII_FOLD = bytes(ord(fold_char(chr(code))) for code in range(128)) + bytes(range(128, 256))
# Characters common in European listings, replaced with C-speed str.replace before falling
# back to a per-character callback for anything rarer.
_COMMON = tuple("éèêëàâäáãåçôöóòõøîïíìûüúùñÿœæßÉÈÊËÀÂÄÁÇÔÖÓÎÏÍÛÜÚÑŒÆ’‘“”«»–—…€°·×²³µ\u00a0\u200b")
_NON_ASCII = re.compile(r"[^\x00-\x7f]")


def fold(text: str) -> str:
    """The folded view (see the module docstring)."""
    if not text.isascii():
        for char in _COMMON:
            if char in text:
                text = text.replace(char, _FOLD[char])
        if not text.isascii():
            text = _NON_ASCII.sub(lambda match: _FOLD[match.group()], text)
    if text.isascii():
        return text.encode("ascii").translate(_ASCII_FOLD).decode("ascii")
    return "".join(_FOLD[char] if char.isascii() else char for char in text)


def fold_offsets(text: str) -> list[int] | None:
    """For each character of `fold(text)`, the index of its source character in `text`.

    None means "the same index": the usual case, where every character folds one to one.
    Call after `fold(text)`, which has seen (and memoised) every character of `text`.
    """
    if text.isascii() or not any(char in text for char in _FOLD.uneven):
        return None
    offsets: list[int] = []
    for index, char in enumerate(text):
        offsets.extend([index] * len(_FOLD[char]))
    return offsets


# --- the words view --------------------------------------------------------------------------

_LEET = str.maketrans("013457@$8", "oieastasb")
# Leetspeak hides where a letter is followed by a digit or symbol, or a symbol by a letter.
# Quantities (`100cm`, `36mg`) put the digits first and are left alone.
_LEET_HINT = re.compile(r"[a-z][0-9@$]|[@$][a-z]")
_SHAPE = bytes(
    ord("a")
    if chr(code).isalpha() and code < 128
    else ord("0")
    if chr(code).isdigit() and code < 128
    else ord("$")
    if chr(code) in "@$"
    else 32
    for code in range(256)
)
_TOKEN = re.compile(r"[a-z0-9@$]+")
_WORD_BYTES = bytes(
    (ord("i") if code == ord("l") else code) if chr(code).isalnum() and code < 128 else 32
    for code in range(256)
)
_NOT_WORD = re.compile(r"[\W_]")
_SPLIT_HINT = re.compile(r" \w \w \w ")
# At least three one-character words in a row, separated by single spaces: ` l o l i`.
_SPLIT_RUN = re.compile(r" ((?:\w ){2,}\w)(?= )")


def _may_hide_leet(text: str) -> bool:
    if not text.isascii():
        return _LEET_HINT.search(text) is not None
    shape = text.encode("ascii").translate(_SHAPE)
    return b"a0" in shape or b"a$" in shape or b"$a" in shape


def _is_leet(token: str) -> bool:
    letters = sum(char.isalpha() for char in token)
    return 2 <= letters < len(token)


def _deleet(text: str) -> str:
    """Read leetspeak back inside words (length-preserving)."""
    if not _may_hide_leet(text):
        return text
    pieces: list[str] = []
    position = 0
    for hint in _LEET_HINT.finditer(text):
        start = hint.start()
        if start < position:
            continue
        while start > 0 and _TOKEN.match(text, start - 1, start):
            start -= 1
        token = _TOKEN.match(text, start)
        if token is None or not _is_leet(token.group()):
            continue
        pieces += [text[position:start], token.group().translate(_LEET)]
        position = token.end()
    pieces.append(text[position:])
    return "".join(pieces)


def _blank(text: str) -> str:
    """Punctuation to spaces and `l` to `i` (length-preserving)."""
    if text.isascii():
        return text.encode("ascii").translate(_WORD_BYTES).decode("ascii")
    return _NOT_WORD.sub(" ", text).replace("l", "i")


def _join_run(match: re.Match[str]) -> str:
    joined = match.group(1).replace(" ", "")
    return " " + (joined.translate(_LEET) if _is_leet(joined) else joined)


def words(folded: str) -> str:
    """The words view of a folded text, padded with one space on each side."""
    text = " " + _blank(_deleet(folded)) + " "
    while "  " in text:
        text = text.replace("  ", " ")
    if _SPLIT_HINT.search(text):
        text = _SPLIT_RUN.sub(_join_run, text)
    return text


_BLANK_RUN = re.compile(r"  +")


class _Drops:
    """Characters a step dropped from its input, to map output positions back to input."""

    __slots__ = ("_dropped_so_far", "_output_starts")

    def __init__(self, intervals: list[tuple[int, int]]) -> None:
        """`intervals`: (input start, length) of each dropped stretch, in order."""
        self._output_starts: list[int] = []
        self._dropped_so_far: list[int] = []
        total = 0
        for start, length in intervals:
            self._output_starts.append(start - total)
            total += length
            self._dropped_so_far.append(total)

    def source(self, position: int) -> int:
        before = bisect.bisect_right(self._output_starts, position)
        return position + (self._dropped_so_far[before - 1] if before else 0)


class WordsMap:
    """Maps positions of a words view back to positions of the folded text it came from.

    The view only replaces characters one for one and drops spaces: runs of blanks collapse
    to their first, and split letters lose theirs. Those drops are found with two regular
    expression scans, then each position maps back with a binary search.
    """

    __slots__ = ("_collapse", "_length", "_split")

    def __init__(self, folded: str) -> None:
        blanked = " " + _blank(_deleet(folded)) + " "
        self._length = len(folded)
        self._collapse = _Drops(
            [(run.start() + 1, run.end() - run.start() - 1) for run in _BLANK_RUN.finditer(blanked)]
        )
        collapsed = blanked
        while "  " in collapsed:
            collapsed = collapsed.replace("  ", " ")
        self._split = _Drops(
            [
                (run.start(1) + offset, 1)
                for run in (_SPLIT_RUN.finditer(collapsed) if _SPLIT_HINT.search(collapsed) else ())
                for offset in range(1, run.end(1) - run.start(1), 2)
            ]
        )

    def folded_index(self, position: int) -> int:
        """Index in the folded text of view character `position` (pads clamp to the ends)."""
        index = self._collapse.source(self._split.source(position)) - 1
        return min(max(index, 0), max(self._length - 1, 0))
