from collections.abc import Callable
from typing import TypeVar

Hit = TypeVar("Hit", bound=tuple[str, int, int, str])

Phrases = tuple[bytes, ...] | None

def set_tables(
    entries: list[tuple[bytes, int, Phrases, Phrases, Phrases]],
    stem: bytes,
    free_suffix: bytes,
    reach_before: int,
    list_reach: int,
    middle_reach: int,
    /,
) -> None: ...
def negated(text: str, start: int, stop: int, /) -> bool | None: ...
def sort_hits(
    text: str,
    found: list[tuple[int, int, int]],
    keys: list[tuple[bool, tuple[tuple[str, str], ...], tuple[str, ...]]],
    view_starts: list[int],
    max_hits: int,
    check_time: Callable[[], None],
    check_every: int,
    /,
) -> list[tuple[int, str, str, int, int]] | None: ...
def group_hits(
    hits: list[tuple[int, str, str, int, int]], names: list[str], hit_type: type[Hit], /
) -> dict[str, list[Hit]]: ...
