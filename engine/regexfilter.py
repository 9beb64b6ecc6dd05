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
    the match contains (required_literals, then each rare character the pattern's top-level
    sequence holds). Empty if none is known."""
    found: list[tuple[str, ...]] = []
    best = required_literals(pattern)
    if best is not None:
        found.append(best)
    parsed = parser.parse(pattern)
    if parsed.state.flags & re.IGNORECASE:
        return tuple(found)
    for op, value in parsed:
        if op is sre.LITERAL and chr(value) in RARE_CHARACTERS and (chr(value),) not in found:
            found.append((chr(value),))
    return tuple(found)


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
