"""What a pack's regular expressions cost on the worst text a seller can write.

Python's `re` backtracks: `(\\d+)\\s*mg` takes about 12 s on 20,000 digits followed by " mg"
(every start offset re-reads the run), and nested repetitions such as `(a+)+$` take forever.
Listing text is the attacker's, so `tamis check` runs every pattern of a pack (policy `regex:`
and `attributes.yaml` `patterns:`) over adversarial texts as long as a listing field may be
(runs of digits, letters, spaces, separators, and the pattern's own literals repeated, each
followed by what makes a match fail late) and refuses a pattern slower than a budget.

Generic runs miss a repetition whose body needs a particular text: `(?:x\\d|x\\d)*z` explodes
only on `x1x1x1…`. So the texts are also derived from the pattern itself: for every repeated
sub-pattern, a string its body matches (a literal itself, a class one of its members, each
branch of an alternation), repeated after a string that leads up to it and followed by a
character that makes the match fail. The texts grow from short to full length and the time
allowed grows in proportion, so a pattern whose cost grows faster than the text is caught
while still cheap; the whole measurement runs in a child process that is killed when it
overruns, since a regular expression cannot be interrupted.
"""

from __future__ import annotations

import multiprocessing
import re
import time
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection
from re import _constants as sre  # type: ignore[attr-defined]
from re import _parser as parser  # type: ignore[attr-defined]
from typing import Any

from tamis.engine.errors import PolicyProblem
from tamis.engine.listing import DEFAULT_LIMITS
from tamis.engine.policyset import PolicySet
from tamis.engine.yamldoc import Path

#: Seconds a pattern may take over one adversarial text of TEXT_CHARS characters (a linear
#: pattern takes about 1 ms; the quadratic ones this guards against, seconds).
BUDGET_SECONDS = 0.25
TEXT_CHARS = DEFAULT_LIMITS.max_text_chars
_LENGTHS = (16, 24, 32, 40, 48, 64, 512, 4096, TEXT_CHARS)
#: Below this, a measurement is the machine's noise, not the pattern's cost.
_NOISE_SECONDS = 0.02

#: The child measuring patterns is killed past this many budgets for one text.
_WATCHDOG_BUDGETS = 30

_RUNS = ("1", "a", " ", "1 ", "1,", "1.", "a ", "a1", "-", "%")
_FRAGMENTS = 4

#: What follows a repeated sample so that the match fails late: nothing, punctuation, and a
#: character no pack pattern matches.
_FAILING_TAILS = ("", "!", "\x00")
#: Strings derived per sub-pattern, and (lead-in, repeated sample) pairs per pattern.
_SAMPLES = 4
_UNITS = 12
#: Copies of a repetition's body when it leads up to another (`\d{3}` → "111").
_COPIES = 16
_REPEATS = (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT)
_CANDIDATES = "a1 !x-.%_\x00"
_CATEGORIES: dict[Any, Callable[[str], bool]] = {
    sre.CATEGORY_DIGIT: str.isdigit,
    sre.CATEGORY_NOT_DIGIT: lambda char: not char.isdigit(),
    sre.CATEGORY_SPACE: str.isspace,
    sre.CATEGORY_NOT_SPACE: lambda char: not char.isspace(),
    sre.CATEGORY_WORD: lambda char: char.isalnum() or char == "_",
    sre.CATEGORY_NOT_WORD: lambda char: not (char.isalnum() or char == "_"),
}


def pack_patterns(policy_set: PolicySet) -> list[tuple[str, Path, str]]:
    """Every regular expression of the pack: (file, key path, pattern), in file order."""
    found: list[tuple[str, Path, str]] = []

    def walk(file: str, value: Any, path: Path) -> None:
        if isinstance(value, dict):
            for key, child in value.items():
                if key == "regex" and isinstance(child, str):
                    found.append((file, (*path, key), child))
                elif key == "patterns" and isinstance(child, list):
                    found.extend(
                        (file, (*path, key, index), item)
                        for index, item in enumerate(child)
                        if isinstance(item, str)
                    )
                else:
                    walk(file, child, (*path, key))
        elif isinstance(value, list):
            for index, child in enumerate(value):
                walk(file, child, (*path, index))

    for file, document in sorted(policy_set.documents.items()):
        walk(file, document.value, ())
    return found


def slow_patterns(policy_set: PolicySet, budget: float = BUDGET_SECONDS) -> list[PolicyProblem]:
    """A located problem for each pattern of the pack slower than `budget` on some
    adversarial text (each distinct pattern is measured once)."""
    found = pack_patterns(policy_set)
    verdicts = measure(sorted({pattern for *_, pattern in found}), budget)
    return [
        policy_set.documents[file].problem(path, verdicts[pattern])
        for file, path, pattern in found
        if verdicts.get(pattern)
    ]


def measure(patterns: list[str], budget: float = BUDGET_SECONDS) -> dict[str, str]:
    """For each pattern too slow, why; measured in a child process killed when one text
    overruns (the child reports each text measured, so a slow machine is not a slow pattern)."""
    slow: dict[str, str] = {}
    pending = list(patterns)
    context = multiprocessing.get_context("fork")
    while pending:
        receiver, sender = context.Pipe(duplex=False)
        child = context.Process(target=_measure_in_child, args=(pending, budget, sender), daemon=True)
        child.start()
        sender.close()
        done = 0
        while done < len(pending):
            if not receiver.poll(budget * _WATCHDOG_BUDGETS):
                slow[pending[done]] = (
                    f"regular expression did not finish within {budget * _WATCHDOG_BUDGETS:.0f} s "
                    "on an adversarial text (nested or overlapping repetitions?); "
                    "bound its repetitions or anchor it"
                )
                done += 1
                break
            try:
                reason = receiver.recv()
            except EOFError:
                slow[pending[done]] = "regular expression crashed the process measuring it"
                done += 1
                break
            if reason is None:  # one more text measured
                continue
            if reason:
                slow[pending[done]] = reason
            done += 1
        child.kill()
        child.join()
        receiver.close()
        pending = pending[done:]
    return slow


def _measure_in_child(patterns: list[str], budget: float, sender: Connection) -> None:
    for pattern in patterns:
        sender.send(too_slow(pattern, budget, measured=lambda: sender.send(None)))
    sender.close()


def too_slow(
    pattern: str, budget: float = BUDGET_SECONDS, measured: Callable[[], None] = lambda: None
) -> str:
    """Why `pattern` is too slow, or "" (in this process: it may not return for a pattern
    whose cost explodes; `measure` guards against that). `measured` is called after each text."""
    regex = re.compile(pattern)
    for length in _LENGTHS:
        allowed = max(budget * length / TEXT_CHARS, _NOISE_SECONDS)
        for label, text in adversarial_texts(pattern, length):
            slow = _seconds(regex, text) > allowed
            measured()
            if slow:
                seconds = _seconds(regex, text)  # again: not a passing hiccup
                if seconds > allowed:
                    return (
                        f"regular expression takes {seconds:.2f} s on {length:,} characters of "
                        f"{label} (budget: {budget} s for {TEXT_CHARS:,}); bound its repetitions "
                        "({1,15} rather than +) and start a number only where no digit precedes it "
                        "(\\d(?<!\\d\\d)\\d{0,14})"
                    )
    return ""


def _seconds(regex: re.Pattern[str], text: str) -> float:
    started = time.perf_counter()
    for _ in regex.finditer(text):
        pass
    return time.perf_counter() - started


def adversarial_texts(pattern: str, length: int) -> Iterator[tuple[str, str]]:
    """(label, text) pairs of `length` characters: runs of common characters and of the
    pattern's own literals, each followed by a literal, so that a match fails late."""
    fragments = _literals(pattern)
    tails = ["", "!", *fragments]
    for run in (*_RUNS, *fragments, *(f"1 {fragment}" for fragment in fragments)):
        for tail in tails:
            body = (run * (length // len(run) + 1))[: max(length - len(tail) - 1, 0)]
            yield f"{run[:12]!r}… then {tail[:12]!r}", f"{body} {tail}"[:length]
    for lead, unit in repeated_samples(pattern):
        for tail in _FAILING_TAILS:
            copies = max((length - len(lead) - len(tail)) // len(unit), 1)
            after = f" after {lead[:12]!r}" if lead else ""
            label = f"{unit[:12]!r} repeated{after}, then {repr(tail) if tail else 'the end'}"
            yield label, lead + unit * copies + tail


def repeated_samples(pattern: str) -> list[tuple[str, str]]:
    """(lead-in, sample) for each repeated sub-pattern of `pattern`: the sample is a string
    the repetition's body matches, the lead-in one that the pattern matches up to it."""
    found: dict[tuple[str, str], None] = {}

    def walk(items: Any, lead: str) -> None:
        for op, value in items:
            if op in _REPEATS and value[1] > 1:
                found.update(dict.fromkeys((lead, unit) for unit in _samples(value[2]) if unit))
            for child in _children(op, value):
                walk(child, lead)
            lead += _item_samples(op, value)[0]

    walk(parser.parse(pattern), "")
    return list(found)[:_UNITS]


def _children(op: Any, value: Any) -> list[Any]:
    """The sub-sequences of one parsed item (the branches of an alternation, a group's body)."""
    if op in _REPEATS:
        return [value[2]]
    if op is sre.SUBPATTERN:
        return [value[-1]]
    if op is sre.ATOMIC_GROUP:
        return [value]
    if op is sre.BRANCH:
        return list(value[1])
    if op in (sre.ASSERT, sre.ASSERT_NOT):
        return [value[1]]
    if op is sre.GROUPREF_EXISTS:
        return [branch for branch in value[1:] if branch is not None]
    return []


def _samples(items: Any) -> list[str]:
    """A few strings that a parsed sequence matches (look-arounds and back-references aside)."""
    found = [""]
    for op, value in items:
        found = [head + tail for head in found for tail in _item_samples(op, value)][:_SAMPLES]
    return found


def _item_samples(op: Any, value: Any) -> list[str]:
    if op is sre.LITERAL:
        return [chr(value)]
    if op is sre.NOT_LITERAL:
        return [next(char for char in _CANDIDATES if ord(char) != value)]
    if op is sre.ANY:
        return ["a"]
    if op is sre.IN:
        return [_member(value)]
    if op is sre.BRANCH:
        return [_samples(branch)[0] for branch in value[1]][:_SAMPLES]
    if op in _REPEATS:
        copies = min(max(value[0], 1), _COPIES) if value[1] else 0
        return [sample * copies for sample in _samples(value[2])]
    if op in (sre.SUBPATTERN, sre.ATOMIC_GROUP, sre.GROUPREF_EXISTS):
        return _samples(_children(op, value)[0])
    return [""]  # an anchor, a look-around or a back-reference: no text of its own here


def _member(items: Any) -> str:
    """A character of a class `[…]` (one outside it, for a negated class)."""
    if items and items[0][0] is sre.NEGATE:
        return next((char for char in _CANDIDATES if not _in_class(char, items[1:])), "\x00")
    return next((char for char in _CANDIDATES if _in_class(char, items)), _first(items))


def _first(items: Any) -> str:
    op, value = items[0]
    if op is sre.LITERAL:
        return chr(value)
    return chr(value[0]) if op is sre.RANGE else "a"


def _in_class(char: str, items: Any) -> bool:
    for op, value in items:
        if op is sre.LITERAL and ord(char) == value:
            return True
        if op is sre.RANGE and value[0] <= ord(char) <= value[1]:
            return True
        if op is sre.CATEGORY and value in _CATEGORIES and _CATEGORIES[value](char):
            return True
    return False


def _literals(pattern: str) -> list[str]:
    """The literal runs written in the pattern (a few, the longest first)."""
    runs: set[str] = set()

    def walk(items: Any) -> None:
        run = ""
        for op, value in items:
            if op is sre.LITERAL:
                run += chr(value)
                continue
            if run:
                runs.add(run)
                run = ""
            if op is sre.SUBPATTERN or op in (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT):
                walk(value[-1])
            elif op is sre.BRANCH:
                for branch in value[1]:
                    walk(branch)
            elif op in (sre.ATOMIC_GROUP, sre.ASSERT, sre.ASSERT_NOT):
                walk(value if op is sre.ATOMIC_GROUP else value[1])
        if run:
            runs.add(run)

    walk(parser.parse(pattern))
    return sorted(runs, key=lambda run: (-len(run), run))[:_FRAGMENTS]
