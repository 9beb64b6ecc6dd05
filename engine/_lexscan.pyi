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
