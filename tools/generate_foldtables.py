"""Write engine/foldtables.py, the Unicode data text folding needs, from maintained packages.

* Lookalikes: the confusables of Unicode UTS #39 (confusables.txt), as the confusable-homoglyphs
  package ships them. Only a letter or digit that looks like an ASCII letter or digit is kept,
  mapped to that ASCII character (`о` Cyrillic → `o`, `օ` Armenian → `o`, `ᴄ` small capital →
  `c`); ASCII itself is never remapped (UTS #39 reads `l` as `I` and `m` as `rn`, which would
  merge real words), and characters that compatibility decomposition already folds are left to
  it. A lookalike of a digit with a digit value of its own (`०` Devanagari zero) maps to that value.
  Latin small capitals and dotless letters (`ᴅ`, `ȷ`), which UTS #39 keeps apart, read as their
  letter too (found by their Unicode names).
* The script of every code point (Scripts.txt, also shipped by confusable-homoglyphs), and
  Default_Ignorable_Code_Point and the format characters (Cf) as the regex package knows them.

Run `make foldtables` after upgrading either package; tests/test_textnorm.py checks that the
committed file is what this script writes.
"""

from __future__ import annotations

import json
import re
import string
import sys
import unicodedata
from collections.abc import Iterable
from importlib import metadata, resources
from pathlib import Path
from typing import Any

import regex

OUTPUT = Path(__file__).parent.parent / "engine" / "foldtables.py"
_ASCII_ALNUM = frozenset(string.ascii_letters + string.digits)
_LRM = "\u200e"  # the package wraps right-to-left characters in left-to-right marks
# Names of characters that stand for one Latin letter: small capitals, dotless letters, letters
# with a stroke, hook or other mark that is not a separate accent (`ø`, `ł`, `đ`), letters in
# parentheses, squares or circles, and the regional indicators flags are written with.
_NAMED = re.compile(
    r"(?:LATIN (?:LETTER SMALL CAPITAL|(?:SMALL|CAPITAL) LETTER(?: DOTLESS)?)"
    r"|PARENTHESIZED LATIN (?:SMALL|CAPITAL) LETTER|REGIONAL INDICATOR SYMBOL LETTER"
    r"|(?:NEGATIVE )?(?:SQUARED|CIRCLED) LATIN CAPITAL LETTER) ([A-Z])(?: WITH .+)?"
)


def _data(name: str) -> Any:
    return json.loads(resources.files("confusable_homoglyphs").joinpath(name).read_text("utf-8"))


def _confusables() -> dict[str, list[str]]:
    """Prototype (and, the package adds, source) → the characters confusable with it."""
    return {
        key: [entry["c"].strip(_LRM) for entry in entries]
        for key, entries in _data("confusables.json").items()
    }


def _plain_letter(char: str) -> str | None:
    """The ASCII letter a character stands for by its Unicode name (`ᴅ` → `d`, `ø` → `o`,
    `⒞` → `c`) when compatibility decomposition does not already give it: UTS #39 treats these
    as letters of their own."""
    found = _NAMED.fullmatch(unicodedata.name(char, ""))
    if found is None or char.isascii():
        return None
    letter = found.group(1).lower()
    decomposed = unicodedata.normalize("NFKD", char)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    return None if plain == letter else letter


def lookalikes() -> dict[str, str]:
    """Source character → the ASCII letter or digit it reads as."""
    data = _confusables()
    named = {chr(code): letter for code in range(sys.maxunicode + 1) if (letter := _plain_letter(chr(code)))}
    # A prototype reads as an ASCII letter or digit: it is one; or it is an ASCII string that
    # is the prototype of one (`rn` stands for `m`); or a named letter of the same shape (a
    # small capital is the prototype of Greek `τ`), not one with a mark (`ꞓ`, C with a bar, is
    # the prototype of `ε`, which does not read as `c`).
    prototypes: dict[str, str] = {char: char for char in _ASCII_ALNUM if char in data}
    for key, sources in data.items():
        if len(key) > 1 and key.isascii() and key.isalnum():
            meant = [source for source in sources if source in _ASCII_ALNUM]
            if len(meant) == 1:
                prototypes[key] = meant[0]
        elif key in named and " WITH " not in unicodedata.name(key):
            prototypes[key] = named[key]
    table = dict(named)  # kept even where they decompose (`⒞` → `(c)`) or are symbols (flags)
    for prototype, target in sorted(prototypes.items()):
        for source in (prototype, *data[prototype]):
            if len(source) != 1 or source.isascii() or unicodedata.normalize("NFKD", source) != source:
                continue
            if unicodedata.category(source)[0] not in "LN":
                continue
            digit = unicodedata.decimal(source, None)
            table.setdefault(source, str(digit) if digit is not None else target)
    return dict(sorted(table.items()))


def scripts() -> tuple[list[int], list[str]]:
    """Starts of runs of code points of one script, and the script of each run (`""` for
    Common, Inherited and unassigned code points, which belong to no script)."""
    categories = _data("categories.json")
    names = categories["iso_15924_aliases"]
    starts: list[int] = []
    runs: list[str] = []
    following = 0
    for first, last, script, _ in categories["code_points_ranges"]:
        name = names[script] if names[script] not in ("COMMON", "INHERITED") else ""
        for start, run in ((following, ""), (first, name)) if first > following else ((first, name),):
            if not runs or runs[-1] != run:
                starts.append(start)
                runs.append(run)
        following = last + 1
    starts.append(following)
    runs.append("")
    return starts, runs


def _ranges(pattern: str) -> list[tuple[int, int]]:
    compiled = regex.compile(pattern)
    found: list[tuple[int, int]] = []
    for code in range(sys.maxunicode + 1):
        if compiled.match(chr(code)):
            if found and found[-1][1] == code - 1:
                found[-1] = (found[-1][0], code)
            else:
                found.append((code, code))
    return found


def _chunks(text: str, width: int = 96) -> Iterable[str]:
    """`text` as ASCII escapes, in pieces of at most `width` characters cut between escapes."""
    pieces, current = [], ""
    for char in text:
        piece = char.encode("ascii", "backslashreplace").decode("ascii")
        if len(current) + len(piece) > width:
            pieces.append(current)
            current = ""
        current += piece
    return [*pieces, current]


def _string(name: str, text: str) -> str:
    lines = "\n".join(f'    "{chunk}"' for chunk in _chunks(text))
    return f"{name} = (\n{lines}\n)\n"


def _ints(name: str, values: list[int]) -> str:
    lines = "\n".join(
        "    " + " ".join(f"0x{value:X}," for value in values[start : start + 10])
        for start in range(0, len(values), 10)
    )
    return f"{name}: tuple[int, ...] = (\n{lines}\n)\n"


def _names(name: str, values: list[str]) -> str:
    known = sorted(set(values))
    names = "\n".join(
        f"    {known[start : start + 6]!r}"[:-1].replace("[", "", 1) + ","
        for start in range(0, len(known), 6)
    )
    return f"{name}_NAMES = (\n{names}\n)\n" + _ints(
        f"{name}_OF_RUN", [known.index(value) for value in values]
    )


def _range_tuple(name: str, ranges: list[tuple[int, int]]) -> str:
    lines = "\n".join(f"    (0x{first:04X}, 0x{last:04X})," for first, last in ranges)
    return f"{name}: tuple[tuple[int, int], ...] = (\n{lines}\n)\n"


def source() -> str:
    """The text of engine/foldtables.py."""
    table = lookalikes()
    starts, runs = scripts()
    return "\n".join(
        [
            '"""Unicode data for engine.textnorm. Generated by `make foldtables`'
            ' (tools/generate_foldtables.py): do not edit."""',
            "",
            f"#: From confusable-homoglyphs {metadata.version('confusable-homoglyphs')} and regex"
            f" {metadata.version('regex')}.",
            "#: Lookalikes: LOOKALIKE_SOURCES[i] reads as LOOKALIKE_TARGETS[i].",
            _string("LOOKALIKE_SOURCES", "".join(table)),
            _string("LOOKALIKE_TARGETS", "".join(table.values())),
            "#: Default_Ignorable_Code_Point: (first, last) code points.",
            _range_tuple("DEFAULT_IGNORABLE", _ranges(r"\p{Default_Ignorable_Code_Point}")),
            "#: General_Category=Cf (format characters): (first, last) code points.",
            _range_tuple("FORMAT", _ranges(r"\p{Cf}")),
            "#: Scripts: code points from SCRIPT_STARTS[i] on are of script SCRIPT_NAMES[SCRIPT_OF_RUN[i]]",
            "#: ('' for Common, Inherited and unassigned code points).",
            _ints("SCRIPT_STARTS", starts),
            _names("SCRIPT", runs),
        ]
    )


if __name__ == "__main__":
    OUTPUT.write_text(source(), encoding="utf-8")
