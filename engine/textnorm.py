"""Text folding that defeats the tricks sellers use to slip past filters.

Two views of a text are matched:

* **folded** (regular expressions, numbers): Unicode compatibility decomposition, accents
  dropped, case folded, lookalikes of Latin letters and digits from other scripts mapped to them
  (the confusables of Unicode UTS #39, see tools/generate_foldtables.py), invisible characters
  removed (every Default_Ignorable_Code_Point, the braille blank, emoji skin-tone modifiers, and
  control characters other than line breaks and tabs), line breaks, tabs and apostrophes turned
  into spaces (French elision: `l'arme` → `l arme`). It has one character per source character,
  except where a character decomposes (`ﬁ` → `fi`, `ß` → `ss`) or vanishes (invisible).
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

from tamis.engine import foldtables
from tamis.engine._words import fold_words_latin1, set_fold_table, words_latin1

# Letters and digits of other scripts that read as Latin ones (`о` Cyrillic, `օ` Armenian).
_LOOKALIKES = dict(zip(foldtables.LOOKALIKE_SOURCES, foldtables.LOOKALIKE_TARGETS, strict=True))
# Controls that separate words; every other control character is deleted.
_LINE_BREAKS = frozenset("\t\n\v\f\r\x85")
_CONTROLS = [(0x00, 0x08), (0x0E, 0x1F), (0x7F, 0x84), (0x86, 0x9F)]  # Cc less _LINE_BREAKS


def _merged(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for first, last in sorted(ranges):
        if merged and first <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(last, merged[-1][1]))
        else:
            merged.append((first, last))
    return merged


# Characters that show nothing: Default_Ignorable_Code_Point (zero-width characters, variation
# selectors, Hangul fillers, tags…), the other format characters, controls that are not line
# breaks, and, as sellers use them the same way, the braille blank and the emoji skin-tone
# modifiers. (first, last) code points, sorted and merged.
_INVISIBLE = _merged(
    [*foldtables.DEFAULT_IGNORABLE, *foldtables.FORMAT, *_CONTROLS, (0x2800, 0x2800), (0x1F3FB, 0x1F3FF)]
)
_INVISIBLE_STARTS = [first for first, _ in _INVISIBLE]
_APOSTROPHES = frozenset("'’‘`´ʼ′")
# Ligatures read as their letters, so that "cœur" meets "coeur".
_LIGATURES = {"œ": "oe", "æ": "ae", "ĳ": "ij"}


def is_invisible(char: str) -> bool:
    """A character that shows nothing, or a control that is not a line break (see _INVISIBLE)."""
    code = ord(char)
    index = bisect.bisect_right(_INVISIBLE_STARTS, code) - 1
    return index >= 0 and code <= _INVISIBLE[index][1]


def _fold_once(char: str) -> str:
    if is_invisible(char):
        return ""
    if char in _LINE_BREAKS or char in _APOSTROPHES or unicodedata.category(char) in ("Zl", "Zp"):
        return " "
    # A few lookalikes are named letters that decompose (`⒞` → `(c)`): looked up first.
    decomposed = unicodedata.normalize("NFKD", _LOOKALIKES.get(char, char))
    kept = "".join(c for c in decomposed if not unicodedata.combining(c))
    folded = "".join(_LOOKALIKES.get(c, c) for c in kept).casefold().lower()
    return "".join(_LIGATURES.get(c, c) for c in folded)


def fold_char(char: str) -> str:
    """What one code point becomes in the folded view; every output character folds to itself."""
    result = _fold_once(char)
    if result == char:
        return result
    return "".join(c if c == char else fold_char(c) for c in result)


#: Characters whose folding is memoised, at most: a seller sending every code point there is
#: must not grow the process by hundreds of megabytes (the rest are folded each time).
CACHE_LIMIT = 100_000


class _FoldCache(dict[str, str]):
    """fold_char, memoised; remembers every character seen that does not fold one to one."""

    def __init__(self) -> None:
        super().__init__()
        self.uneven: set[str] = set()

    def __missing__(self, char: str) -> str:
        folded = fold_char(char)
        if len(self) < CACHE_LIMIT:
            self[char] = folded
        if len(folded) != 1:
            self.uneven.add(char)
        return folded


class _FoldByCode(dict[int, str]):
    """The same, keyed by code point, for str.translate (C speed once a character is known)."""

    def __missing__(self, code: int) -> str:
        folded = _FOLD[chr(code)]
        if len(self) < CACHE_LIMIT:
            self[code] = folded
        return folded


_FOLD = _FoldCache()
_FOLD_BY_CODE = _FoldByCode()


def _latin1_table() -> tuple[bytes, bytes, tuple[str, ...]]:
    """A byte table folding every Latin-1 character that folds to one Latin-1 character, the
    characters that vanish (controls, soft hyphen), and the others (`ß` → `ss`, `µ` → Greek mu).
    Every Latin-1 character is memoised in _FOLD on the way, for fold_offsets."""
    table, dropped, others = bytearray(range(256)), bytearray(), []
    for code in range(256):
        folded = _FOLD[chr(code)]
        if len(folded) == 1 and ord(folded) < 256:
            table[code] = ord(folded)
        elif not folded:
            dropped.append(code)
        else:
            others.append(chr(code))
    return bytes(table), bytes(dropped), tuple(others)


_LATIN1_FOLD, _LATIN1_DROPPED, _LATIN1_UNEVEN = _latin1_table()
# The same for engine._words: 0 where a character vanishes, 1 where it folds beyond one Latin-1
# character (both controls, so never a folded character).
set_fold_table(
    bytes(
        0 if code in _LATIN1_DROPPED else 1 if chr(code) in _LATIN1_UNEVEN else _LATIN1_FOLD[code]
        for code in range(256)
    )
)
_ASCII_DROPPED = bytes(code for code in _LATIN1_DROPPED if code < 128)
_ASCII_DROPPED_CHAR = re.compile("[" + re.escape(_ASCII_DROPPED.decode("ascii")) + "]")
# Characters beyond Latin-1 that European listings use often: replaced first with C-speed
# str.replace, so that most texts can then be folded as Latin-1 bytes.
_COMMON_WIDE = (*_LATIN1_UNEVEN, *"’‘“”–—…€œŒ•™\u200b\u200c\u200d\ufeff")


def fold(text: str) -> str:
    """The folded view (see the module docstring)."""
    if text.isascii():
        return text.encode("ascii").translate(_LATIN1_FOLD, _ASCII_DROPPED).decode("ascii")
    for char in _COMMON_WIDE:
        if char in text:
            text = text.replace(char, _FOLD[char])
    try:
        raw = text.encode("latin-1")
    except UnicodeEncodeError:
        return text.translate(_FOLD_BY_CODE)
    return raw.translate(_LATIN1_FOLD, _LATIN1_DROPPED).decode("latin-1")


def fold_offsets(text: str) -> list[int] | None:
    """For each character of `fold(text)`, the index of its source character in `text`.

    None means "the same index": the usual case, where every character folds one to one.
    Call after `fold(text)`, which has seen (and memoised) every character of `text`.
    """
    if text.isascii():
        if _ASCII_DROPPED_CHAR.search(text) is None:
            return None
    elif not any(char in text for char in _FOLD.uneven):
        return None
    offsets: list[int] = []
    uneven = _uneven()
    if uneven is None:  # a process shown very many odd characters: one at a time
        for index, char in enumerate(text):
            offsets.extend([index] * len(_FOLD[char]))
        return offsets
    done = 0  # the characters before fold one to one, but for those an uneven match found
    for found in uneven.finditer(text):
        index = found.start()
        offsets += range(done, index)
        offsets += [index] * len(_FOLD[text[index]])
        done = index + 1
    offsets += range(done, len(text))
    return offsets


_UNEVEN: list[tuple[int, re.Pattern[str]]] = []  # (size of _FOLD.uneven, its class), the latest
#: Characters in that class at most: _FOLD.uneven only grows, and each growth costs a compilation.
MAX_UNEVEN = 2048


def _uneven() -> re.Pattern[str] | None:
    """A character class of every character known not to fold one to one (_FOLD.uneven),
    compiled again when it has grown; None past MAX_UNEVEN."""
    if len(_FOLD.uneven) > MAX_UNEVEN:
        return None
    if not _UNEVEN or _UNEVEN[0][0] != len(_FOLD.uneven):
        pattern = re.compile("[" + "".join(re.escape(char) for char in sorted(_FOLD.uneven)) + "]")
        _UNEVEN[:] = [(len(_FOLD.uneven), pattern)]
    return _UNEVEN[0][1]


# --- the words view --------------------------------------------------------------------------

_LEET = str.maketrans("013457@$8", "oieastasb")
# Leetspeak hides where a letter is followed by a digit or symbol, or a symbol by a letter.
# Quantities (`100cm`, `36mg`) put the digits first and are left alone.
_LEET_HINT = re.compile(r"[a-z][0-9@$]|[@$][a-z]")
_LETTER_MASK = bytes(1 if chr(code).isalpha() and code < 128 else 0 for code in range(256))
_DIGIT_MASK = bytes(1 if chr(code) in "0123456789@$" else 0 for code in range(256))
_SYMBOL_MASK = bytes(1 if chr(code) in "@$" else 0 for code in range(256))
_TOKEN = re.compile(r"[a-z0-9@$]+")
_WORD_BYTES = bytes(
    (ord("i") if code == ord("l") else code) if chr(code).isalnum() and code < 128 else 32
    for code in range(256)
)
_NOT_WORD = re.compile(r"[\W_]")
# Three or more one-character words with the same separator between them: `l o l i`, `s.e.x`,
# `d-0-l-l`. Once punctuation is blanked every separator is a space, so three single characters
# in a row there (a literal-led pattern the regular-expression engine scans for quickly) is the
# hint; the exact pattern then runs, anchored, on the folded text where separators still differ.
_SPLIT_HINT = re.compile(r" (?=\w \w \w )")
_SPLIT_RUN = re.compile(r"(?<![^\W_])[^\W_]([ .\-_*·/+])[^\W_](?:\1[^\W_])+(?![^\W_])")


def _leet_hints(text: str) -> list[int]:
    """Where leetspeak may hide: a letter before a digit or symbol, or a symbol before a letter.

    For ASCII text the common answer, "nowhere", comes from big-integer arithmetic on byte
    masks (one byte per character; shifting by 8 bits lines each byte up with its successor),
    which runs at C speed; positions are only searched for when there are some.
    """
    if text.isascii():
        if not any(char in text for char in "0123456789@$"):
            return []
        raw = text.encode("ascii")
        letters = int.from_bytes(raw.translate(_LETTER_MASK), "big")
        digits = int.from_bytes(raw.translate(_DIGIT_MASK), "big")
        symbols = int.from_bytes(raw.translate(_SYMBOL_MASK), "big")
        if not ((letters >> 8) & digits or (symbols >> 8) & letters):
            return []
    return [hint.start() for hint in _LEET_HINT.finditer(text)]


def _is_leet(token: str) -> bool:
    letters = sum(char.isalpha() for char in token)
    return 2 <= letters < len(token)


def _deleet(text: str) -> str:
    """Read leetspeak back inside words (length-preserving)."""
    hints = _leet_hints(text)
    if not hints:
        return text
    pieces: list[str] = []
    position = 0
    for hint in hints:
        if hint < position:
            continue
        start = hint
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


def _split_runs(folded: str, blanked: str) -> list[re.Match[str]]:
    """Runs of split letters in `folded`, found where the blanked text (same positions) hints."""
    runs: list[re.Match[str]] = []
    for hint in _SPLIT_HINT.finditer(" " + blanked + " "):
        start = hint.start()  # the padding space shifts positions by one: this is the first letter
        if runs and start < runs[-1].end():
            continue
        run = _SPLIT_RUN.match(folded, start)
        if run is not None:
            runs.append(run)
    return runs


def _join(folded: str, runs: list[re.Match[str]]) -> str:
    pieces: list[str] = []
    position = 0
    for run in runs:
        pieces += [folded[position : run.start()], run.group().replace(run.group(1), "")]
        position = run.end()
    pieces.append(folded[position:])
    return "".join(pieces)


def _blanked(folded: str) -> tuple[str, list[re.Match[str]]]:
    """Leetspeak read back, punctuation blanked, split letters joined (not yet collapsed)."""
    blanked = _blank(_deleet(folded))
    runs = _split_runs(folded, blanked)
    if runs:
        blanked = _blank(_deleet(_join(folded, runs)))
    return blanked, runs


def words(folded: str) -> str:
    """The words view of a folded text, padded with one space on each side."""
    fast = words_latin1(folded)
    return fast if fast is not None else reference_words(folded)


def fold_words(text: str) -> tuple[str, str]:
    """`fold(text)` and its words view: in one C pass for Latin-1 text (as listings mostly are)."""
    fast = fold_words_latin1(text)
    if fast is not None:
        return fast
    folded = fold(text)
    return folded, words(folded)


def reference_words(folded: str) -> str:
    """The words view in Python: the definition, used for text beyond Latin-1; engine._words
    must give the same result for Latin-1 text."""
    text = " " + _blanked(folded)[0] + " "
    while "  " in text:
        text = text.replace("  ", " ")
    return text


_BLANK_RUN = re.compile(r"  +")


class _Drops:
    """Characters a step dropped from its input, to map output positions back to input."""

    def __bool__(self) -> bool:
        return bool(self._output_starts)

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

    The words view only replaces characters one for one and drops some: the separators of
    split letters, and all but the first blank of each run. Both kinds of drop are found with a
    regular-expression scan; a position then maps back with two binary searches.
    """

    __slots__ = ("_collapse", "_length", "_split")

    def __init__(self, folded: str) -> None:
        self._length = len(folded)
        blanked, runs = _blanked(folded)
        self._split = _Drops([(start, 1) for run in runs for start in range(run.start() + 1, run.end(), 2)])
        blanked = " " + blanked + " "
        self._collapse = _Drops(
            [(run.start() + 1, run.end() - run.start() - 1) for run in _BLANK_RUN.finditer(blanked)]
        )

    def folded_index(self, position: int) -> int:
        """Index in the folded text of view character `position` (pads clamp to the ends)."""
        index = self._split.source(max(self._collapse.source(position) - 1, 0))
        return min(index, max(self._length - 1, 0))


# --- obfuscation -----------------------------------------------------------------------------


def _class_of(ranges: list[tuple[int, int]]) -> str:
    return "".join(f"{re.escape(chr(first))}-{re.escape(chr(last))}" for first, last in ranges)


# Invisible characters and controls (not line breaks) between two letters or digits.
_HIDDEN_IN_WORD = re.compile(rf"(?<=[^\W_])[{_class_of(_INVISIBLE)}]+(?=[^\W_])")
# A word holding a letter beyond Latin-1 (matched from its first letter, so linear in the text).
_WIDE_WORD = re.compile(r"(?<![^\W_])[^\W_]*?[^\W\x00-\xff][^\W_]*")
# The letters and hidden characters around a hidden stretch, up to the word's ends.
_WORD_END = re.compile(rf"(?:[^\W_]|{_HIDDEN_IN_WORD.pattern})*")
# Han, Hiragana, Katakana, Bopomofo and Hangul are written together (UTS #39, "highly restrictive").
_CJK = frozenset({"HAN", "HIRAGANA", "KATAKANA", "BOPOMOFO", "HANGUL"})
_SCRIPT_CACHE: dict[str, str] = {}


def _script(char: str) -> str:
    script = _SCRIPT_CACHE.get(char)
    if script is None:
        run = bisect.bisect_right(foldtables.SCRIPT_STARTS, ord(char)) - 1
        script = foldtables.SCRIPT_NAMES[foldtables.SCRIPT_OF_RUN[run]]
        script = "CJK" if script in _CJK else script
        if len(_SCRIPT_CACHE) < CACHE_LIMIT:
            _SCRIPT_CACHE[char] = script
    return script


# Left-to-right and right-to-left overrides show text in another order than it is stored in
# (`\u202eniacirema` reads "americain"): no plain listing needs them.
_OVERRIDE = re.compile("[\u202d\u202e]")
# Hints of split letters in Latin-1 text, at byte speed: every separator made a space, then
# three one-character words in a row (the exact, same-separator test is _SPLIT_RUN).
_SEPARATORS_TO_SPACE = bytes.maketrans(b".-_*\xb7/+", b"       ")
_LATIN1_ALNUM = rb"[0-9A-Za-z\xaa\xb2\xb3\xb5\xb9\xba\xbc-\xbe\xc0-\xd6\xd8-\xf6\xf8-\xff]"
_SPLIT_BYTES = re.compile(rb" " + rb" ".join([_LATIN1_ALNUM] * 3) + rb" ")


def obfuscation(text: str) -> tuple[int, int, str] | None:
    """Where `text` looks written to dodge filters, and how: the [start, end) of the first
    word that hides invisible characters or controls between its letters, mixes scripts
    (`Cοup` with a Greek omicron), or is split into single letters (`c.o.u.p`, `s e x`, three
    letters or more), or of a direction override; None for plain text. Acronyms written with
    dots (`U.S.A.`) count too.

    Latin-1 text, the usual case, is first checked with bytes operations: it can hold no
    other script, and invisible characters or split letters only where a quick test hints."""
    try:
        raw: bytes | None = text.encode("latin-1")
    except UnicodeEncodeError:
        raw = None
    found: list[tuple[int, int, str]] = []
    if raw is None or len(raw.translate(None, _LATIN1_DROPPED)) != len(raw):
        hidden = _HIDDEN_IN_WORD.search(text)
        if hidden is not None:
            start = hidden.start() - 1
            while start > 0 and (text[start - 1].isalnum() or is_invisible(text[start - 1])):
                start -= 1
            end = _WORD_END.match(text, hidden.end()).end()  # type: ignore[union-attr]
            found.append((start, end, "invisible characters inside a word"))
    if raw is None and (override := _OVERRIDE.search(text)) is not None:
        found.append((override.start(), override.end(), "text direction overridden"))
    if raw is None:
        for word in _WIDE_WORD.finditer(text):
            if len({_script(char) for char in word.group()} - {""}) > 1:
                found.append((word.start(), word.end(), "scripts mixed in a word"))
                break
    if raw is None or _SPLIT_BYTES.search(b" " + raw.translate(_SEPARATORS_TO_SPACE) + b" "):
        for run in _SPLIT_RUN.finditer(text):
            if sum(char.isalpha() for char in run.group()) >= 3:
                found.append((run.start(), run.end(), "letters split by separators"))
                break
    return min(found) if found else None
