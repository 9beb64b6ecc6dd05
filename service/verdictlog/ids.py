"""Time-ordered verdict ids: UUIDv7 (RFC 9562), strictly increasing within a process.

The first 48 bits are the Unix time in milliseconds, so ids sort by time: newest-first paging
and time ranges become ranges of the primary key. Within one millisecond (or if the clock steps
back) the 74 random bits are incremented by a random step instead of drawn afresh (RFC 9562,
section 6.2, method 2), so a writer's ids never go backwards. Python 3.11 has no uuid7.
The random bits of each new millisecond come from the operating system (RFC 9562, 6.9); the
increments within one, from a generator seeded from it: a system call per id cost ~2 µs.
"""

from __future__ import annotations

import random
import secrets
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

from tamis.engine import quote

_TAIL_BITS = 74  # 12 bits of rand_a + 62 bits of rand_b
_TAIL_LIMIT = 1 << _TAIL_BITS
_STEP_BITS = 32
_MS_LIMIT = 1 << 48
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


class IdClock:
    """Hands out strictly increasing UUIDv7 values; safe to share between threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_ms = 0
        self._last_tail = 0
        self._steps = random.Random(secrets.randbits(128))

    def next(self, now_ns: int | None = None) -> tuple[str, datetime]:
        """A new id and the time it stands for (microseconds, UTC)."""
        return self.next_many(1, now_ns)[0]

    def next_many(self, count: int, now_ns: int | None = None) -> list[tuple[str, datetime]]:
        """`count` new ids, in increasing order, made at one instant, each with the time it
        stands for: one clock reading and one lock for a whole group commit."""
        ns = time.time_ns() if now_ns is None else now_ns
        ms = ns // 1_000_000
        made: list[tuple[int, int]] = []
        with self._lock:
            for _ in range(count):
                if ms > self._last_ms:
                    tail = secrets.randbits(_TAIL_BITS - 1)  # leave room to count up within the ms
                else:
                    ms = self._last_ms
                    tail = self._last_tail + 1 + self._steps.getrandbits(_STEP_BITS)
                    if tail >= _TAIL_LIMIT:
                        ms, tail = ms + 1, secrets.randbits(_TAIL_BITS - 1)
                self._last_ms, self._last_tail = ms, tail
                made.append((ms, tail))
        moments: dict[int, datetime] = {}  # one per millisecond: nearly always one in all
        for ms, _ in made:
            if ms not in moments:
                moments[ms] = _EPOCH + max(ns // 1000, ms * 1000) * _MICROSECOND
        return [(_format(ms, tail), moments[ms]) for ms, tail in made]


def _format(ms: int, tail: int) -> str:
    if not 0 <= ms < _MS_LIMIT:
        raise ValueError(f"time out of UUIDv7 range: {ms} ms")
    rand_a, rand_b = tail >> 62, tail & ((1 << 62) - 1)
    text = f"{(ms << 80) | (0x7 << 76) | (rand_a << 64) | (0b10 << 62) | rand_b:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def id_time(verdict_id: str) -> datetime:
    """The millisecond an id was made (raises ValueError for anything but a UUIDv7)."""
    value = uuid.UUID(verdict_id)
    if value.version != 7:
        raise ValueError(f"not a UUIDv7: {quote(verdict_id)}")
    return _EPOCH + (value.int >> 80) * 1000 * _MICROSECOND


def lowest_id_at(moment: datetime) -> str:
    """The smallest id made at or after `moment`: time ranges become id ranges."""
    microseconds = (moment - _EPOCH) // _MICROSECOND
    return _format(-(-microseconds // 1000), 0)  # ids of a later millisecond follow a sub-ms instant


def is_verdict_id(text: str) -> bool:
    try:
        return uuid.UUID(text).version == 7 and str(uuid.UUID(text)) == text
    except ValueError:
        return False
