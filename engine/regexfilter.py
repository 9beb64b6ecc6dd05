"""Literals a regular expression cannot match without, to skip texts that lack them.

Python's regular-expression engine scans about 20–35 µs per kilobyte for a pattern that starts
with a class such as `\\d`, but finds a literal almost for free. So, like the trigram index of
a code search engine, we read from each pattern the literal strings one of which every match
must contain (`(\\d+)\\s*mg` needs "mg"; `(?:gsm|gps)\\s+blocker` needs "blocker"), and run the
pattern only on texts that contain one. The answer is exact: a text without them cannot match.
"""

from __future__ import annotations

import re
from re import _constants as sre  # type: ignore[attr-defined]
from re import _parser as parser  # type: ignore[attr-defined]
from typing import Any

#: A literal shorter than this is too common to be worth checking.
MIN_LENGTH = 2


def required_literals(pattern: str) -> tuple[str, ...] | None:
    """Literals one of which every match of `pattern` contains, or None if none is known."""
    parsed = parser.parse(pattern)
    if parsed.state.flags & re.IGNORECASE:
        return None
    found = _sequence(list(parsed))
    if found is None or min(len(item) for item in found) < MIN_LENGTH:
        return None
    return tuple(sorted(found))


#: Single characters rare enough in listings to be worth requiring beside a longer literal (a
#: match must then hold both): "4 % nicotine" needs "ni" (common) and "%" (rare).
RARE_CHARACTERS = frozenset('%"°')


def required_literal_sets(pattern: str) -> tuple[tuple[str, ...], ...]:
    """Requirements every match of `pattern` meets, all of them: for each, literals one of which
    the match contains (required_literals, then each rare character every match holds). Empty
    if none is known."""
    found: list[tuple[str, ...]] = []
    best = required_literals(pattern)
    if best is not None:
        found.append(best)
    parsed = parser.parse(pattern)
    if parsed.state.flags & re.IGNORECASE:
        return tuple(found)
    for char in sorted(_rare(list(parsed))):
        if (char,) not in found:
            found.append((char,))
    return tuple(found)


def _rare(items: list[tuple[Any, Any]]) -> set[str]:
    """The RARE_CHARACTERS every match of a sequence holds: its own, those of the groups and
    repeats it cannot skip, and those every branch of an alternation holds ("12 %|15 %")."""
    found: set[str] = set()
    for op, value in items:
        if op is sre.LITERAL and chr(value) in RARE_CHARACTERS:
            found.add(chr(value))
        elif op is sre.SUBPATTERN and not value[1] & re.IGNORECASE:
            found |= _rare(list(value[3]))
        elif op is sre.ATOMIC_GROUP:
            found |= _rare(list(value))
        elif op in (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT) and value[0] >= 1:
            found |= _rare(list(value[2]))
        elif op is sre.BRANCH:
            found |= set.intersection(*(_rare(list(branch)) for branch in value[1]))
    return found


def _better(first: frozenset[str] | None, second: frozenset[str] | None) -> frozenset[str] | None:
    if first is None or second is None:
        return first or second

    def score(options: frozenset[str]) -> tuple[int, int]:
        return (min(len(item) for item in options), -len(options))

    return first if score(first) >= score(second) else second


def _sequence(items: list[tuple[Any, Any]]) -> frozenset[str] | None:
    """The best requirement of a sequence: a run of literals, or a required sub-part."""
    best: frozenset[str] | None = None
    run = ""
    for op, value in items:
        if op is sre.LITERAL:
            run += chr(value)
            continue
        if run:
            best = _better(best, frozenset({run}))
            run = ""
        best = _better(best, _item(op, value))
    if run:
        best = _better(best, frozenset({run}))
    return best


def _item(op: Any, value: Any) -> frozenset[str] | None:
    if op is sre.SUBPATTERN:
        _group, add_flags, _del_flags, body = value
        return None if add_flags & re.IGNORECASE else _sequence(list(body))
    if op in (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT):
        low, _high, body = value
        return _sequence(list(body)) if low >= 1 else None
    if op is sre.BRANCH:
        _, branches = value
        options: set[str] = set()
        for branch in branches:
            found = _sequence(list(branch))
            if found is None:
                return None
            options |= found
        return frozenset(options)
    if op is sre.ATOMIC_GROUP:
        return _sequence(list(value))
    return None


#: A reach past this is not worth trying start by start (engine.textscan): the pattern scans.
MAX_REACH = 2


def digit_reach(pattern: str) -> int | None:
    """How many characters at most every match of `pattern` runs before its first digit (`\\d`):
    a match holds a digit within that many characters of its start, so starts further than that
    before every digit need not be tried (numbers read from text are sought this way). None when
    not known, or past MAX_REACH."""
    parsed = parser.parse(pattern)
    reach = _reach(parsed.state, list(parsed))
    return reach if reach is not None and reach <= MAX_REACH else None


_ZERO_WIDTH = frozenset((sre.AT, sre.ASSERT, sre.ASSERT_NOT))
_REPEATS = frozenset((sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT))


def _reach(state: Any, items: list[tuple[Any, Any]]) -> int | None:
    """digit_reach of a sequence: the widest the items before one that starts with a digit can
    be (each item that cannot promise one counts with its widest match)."""
    offset = 0
    for op, value in items:
        if op in _ZERO_WIDTH:
            continue
        inner = _item_reach(state, op, value)
        if inner is not None:
            return offset + inner
        _low, high = parser.SubPattern(state, [(op, value)]).getwidth()
        if high >= MAX_REACH:
            return None
        offset += high
    return None


def _item_reach(state: Any, op: Any, value: Any) -> int | None:
    if op is sre.LITERAL:
        return 0 if chr(value).isdecimal() and chr(value).isascii() else None
    if op is sre.IN:
        return 0 if value and all(_is_digits(item) for item in value) else None
    if op is sre.SUBPATTERN:
        return _reach(state, list(value[3]))
    if op is sre.ATOMIC_GROUP:
        return _reach(state, list(value))
    if op in _REPEATS:
        low, _high, body = value
        return _reach(state, list(body)) if low >= 1 else None
    if op is sre.BRANCH:
        reaches = [_reach(state, list(branch)) for branch in value[1]]
        return None if None in reaches else max(reaches)  # type: ignore[type-var]
    return None


def _is_digits(item: tuple[Any, Any]) -> bool:
    """Whether a member of a character class matches digits only (a subset of `\\d`)."""
    op, value = item
    if op is sre.CATEGORY:
        return value is sre.CATEGORY_DIGIT
    if op is sre.LITERAL:
        return bool(48 <= value <= 57)
    if op is sre.RANGE:
        return bool(48 <= value[0] <= value[1] <= 57)
    return False


def after_non_digit(pattern: str) -> bool:
    """Whether the digit within digit_reach of every match's start follows a character that is
    no digit (or the start of the text): a lookbehind refusing a digit before it, or a first
    character that cannot be one. Such a match is tried only before the first digit of a number."""
    items = [item for item in parser.parse(pattern) if item[0] is not sre.AT]
    first = items[0] if items else None
    if first is not None and first[0] is sre.ASSERT_NOT and first[1][0] == -1:
        body = list(first[1][1])
        return len(body) == 1 and _takes_digits(body[0]) and digit_reach(pattern) == 0
    if first is None or len(items) < 2 or _reach(parser.parse(pattern).state, [items[1]]) != 0:
        return False
    if first[0] is sre.BRANCH:
        return all(
            list(branch) == [(sre.AT, sre.AT_BEGINNING)] or (len(branch) == 1 and _refuses_digits(branch[0]))
            for branch in first[1][1]
        )
    return _refuses_digits(first)


def _refuses_digits(item: tuple[Any, Any]) -> bool:
    """Whether a one-character item matches no digit: a class excluding every `\\d`."""
    op, value = item
    return op is sre.IN and value[:1] == [(sre.NEGATE, None)] and _has_every_digit(value[1:])


def _takes_digits(item: tuple[Any, Any]) -> bool:
    """Whether a one-character item matches every digit: a class holding `\\d` or `\\w`."""
    op, value = item
    return op is sre.IN and value[:1] != [(sre.NEGATE, None)] and _has_every_digit(value)


def _has_every_digit(members: list[tuple[Any, Any]]) -> bool:
    return (sre.CATEGORY, sre.CATEGORY_DIGIT) in members or (sre.CATEGORY, sre.CATEGORY_WORD) in members


def starts_with_class(pattern: str) -> bool:
    """Whether `pattern` starts with a literal or a character class, which the regular-expression
    engine itself skips to quickly (a digit_reach then gains nothing)."""
    items = list(parser.parse(pattern))
    while items and items[0][0] is sre.SUBPATTERN:
        items = list(items[0][1][3])
    if items and items[0][0] in _REPEATS and items[0][1][0] >= 1:
        items = list(items[0][1][2])
    return (
        bool(items)
        and items[0][0] in (sre.LITERAL, sre.IN)
        and not (items[0][0] is sre.IN and items[0][1][:1] == [(sre.NEGATE, None)])
    )
