"""Verdict ids: UUIDv7, strictly increasing within a process, and time ranges as id ranges."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from tamis.service.verdictlog.ids import IdClock, id_time, is_verdict_id, lowest_id_at

NOW_NS = 1_763_629_920_123_456_789  # 2025-11-20T09:12:00.123456789Z


def test_ids_are_uuidv7_with_their_millisecond() -> None:
    """An id is an RFC 9562 version 7 UUID that carries the millisecond it was made."""
    verdict_id, moment = IdClock().next(NOW_NS)
    value = uuid.UUID(verdict_id)
    assert value.version == 7
    assert value.variant == uuid.RFC_4122
    assert id_time(verdict_id) == datetime(2025, 11, 20, 9, 12, 0, 123000, tzinfo=UTC)
    assert moment == datetime(2025, 11, 20, 9, 12, 0, 123456, tzinfo=UTC)
    assert is_verdict_id(verdict_id)


def test_ids_increase_within_one_millisecond() -> None:
    """Thousands of ids made in the same millisecond still come out strictly increasing."""
    clock = IdClock()
    ids = [clock.next(NOW_NS)[0] for _ in range(5000)]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)


def test_ids_increase_when_the_clock_steps_back() -> None:
    """A clock that jumps back a second does not make an id smaller than the last one."""
    clock = IdClock()
    before = clock.next(NOW_NS)[0]
    after, moment = clock.next(NOW_NS - 1_000_000_000)
    assert after > before
    assert moment >= id_time(after)


def test_time_bounds_are_id_bounds() -> None:
    """An id made at T sorts at or after lowest_id_at(T) and before lowest_id_at(T + 1 ms)."""
    verdict_id, moment = IdClock().next(NOW_NS)
    start = id_time(verdict_id)
    assert lowest_id_at(start) <= verdict_id < lowest_id_at(start + timedelta(milliseconds=1))
    assert lowest_id_at(moment) > verdict_id  # a sub-millisecond instant: ids of the next ms are first


def test_only_canonical_uuidv7_text_is_an_id() -> None:
    """Version 4 UUIDs, upper case and junk are not verdict ids."""
    assert not is_verdict_id(str(uuid.uuid4()))
    assert not is_verdict_id(IdClock().next()[0].upper())
    assert not is_verdict_id("s-001")


def test_a_group_of_ids_increases_and_follows_the_ids_before_it() -> None:
    """A group commit's ids, made at one clock reading, increase, come after every earlier id
    (even when the clock stepped back), and each stands for a time no earlier than its id's."""
    clock = IdClock()
    before = clock.next(NOW_NS)[0]
    group = clock.next_many(3000, NOW_NS - 1_000_000_000)
    ids = [verdict_id for verdict_id, _ in group]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    assert ids[0] > before
    assert all(moment >= id_time(verdict_id) for verdict_id, moment in group)
    assert clock.next(NOW_NS)[0] > ids[-1]
