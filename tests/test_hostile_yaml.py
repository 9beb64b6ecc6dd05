"""Hostile policy files: alias bombs (by nodes or by characters), cycles, deep nesting, huge
files, symbolic links and entries that are not regular files are
refused with file:line before anything is built from them."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from tamis.engine import PolicySetError, load_bundle
from tamis.engine.yamldoc import MAX_DEPTH, MAX_FILE_CHARS, MIN_EXPANDED_CHARS, parse_yaml
from tests.conftest import PackFiles, base_pack, policy
from tests.test_cli import tamis

Write = Callable[[PackFiles], Path]

BOMB = "\n".join(
    ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    + [
        f"{name}: &{name} [{', '.join([f'*{previous}'] * 10)}]"
        for previous, name in zip("abcdefgh", "bcdefghi", strict=True)
    ]
)


def problems(text: str) -> list[str]:
    document, found = parse_yaml("p.yaml", text)
    assert document is None
    return [str(problem) for problem in found]


def test_an_alias_bomb_is_refused_at_the_alias_that_explodes() -> None:
    """Nine lines that would expand to 10^10 nodes: refused at once, by line."""
    assert problems(BOMB) == ["p.yaml:6:24: aliases expand the document past 500,000 nodes (an alias bomb?)"]


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("id: &x [*x]\n", "p.yaml:1:9"),
        ("a: &x\n  b: *x\n", "p.yaml:2:6"),
        ("a: &x\n  <<: *x\n", "p.yaml:2:7"),
    ],
    ids=["list", "mapping", "merge"],
)
def test_an_alias_to_its_own_container_is_an_error_not_a_recursion(text: str, where: str) -> None:
    assert problems(text) == [f"{where}: alias *x refers to a node that contains it"]


def test_deep_nesting_and_huge_files_are_refused() -> None:
    assert problems("a: " + "[" * 100 + "]" * 100) == [
        f"p.yaml:1:{MAX_DEPTH + 3}: nesting deeper than {MAX_DEPTH} levels"
    ]
    (deeper,) = problems("a: " + "[" * 100_000 + "]" * 100_000)  # libyaml stops at 1,000 levels
    assert deeper.startswith("p.yaml:1:") and "nesting" in deeper
    assert "the limit is 1,000,000" in problems("#" * (MAX_FILE_CHARS + 1))[0]


def lexicon_bomb(term_chars: int, aliases: int) -> str:
    """One long anchored term and many aliases to it: few nodes, many characters (R09)."""
    terms = ", ".join([f"&b {'x' * term_chars}", *["*b"] * aliases])
    return f"lexicon: bomb\ndescription: big\nterms:\n  en: [{terms}]\n"


@pytest.mark.parametrize(("term_chars", "aliases"), [(100_000, 3_000), (400_000, 120_000)])
def test_an_alias_bomb_of_characters_is_refused_at_its_line(term_chars: int, aliases: int) -> None:
    """109 KB expanding to 300 MB, and 760 KB to 48 GB: both under the node limit."""
    (found,) = problems(lexicon_bomb(term_chars, aliases))
    assert found.startswith("p.yaml:4:") and "aliases expand the document past" in found
    assert "characters" in found


def test_aliases_to_a_long_value_within_the_character_bound_still_work() -> None:
    count = MIN_EXPANDED_CHARS // 1_000 // 2
    document, found = parse_yaml("p.yaml", lexicon_bomb(1_000, count))
    assert found == [] and document is not None
    assert len(document.value["terms"]["en"]) == count + 1


def test_aliases_within_limits_still_work() -> None:
    document, found = parse_yaml("p.yaml", "base: &b {x: 1}\nother:\n  <<: *b\n  y: [*b, *b]\n")
    assert found == [] and document is not None
    assert document.value == {"base": {"x": 1}, "other": {"x": 1, "y": [{"x": 1}, {"x": 1}]}}


def test_check_refuses_a_bomb_in_a_policy_file(write_pack: Write) -> None:
    pack = write_pack({**base_pack(policy()), "rules/bomb.yaml": BOMB + "\n"})
    result = tamis("check", str(pack))
    assert result.returncode == 1
    assert f"{pack}/rules/bomb.yaml:6:24: error: aliases expand the document" in result.stderr


@pytest.mark.parametrize("target", ["file", "folder"])
def test_symbolic_links_in_a_pack_are_refused_not_followed(
    write_pack: Write, tmp_path: Path, target: str
) -> None:
    pack = write_pack(base_pack(policy()))
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "p9.yaml").write_text((pack / "rules" / "p0.yaml").read_text().replace("t.policy", "t.linked"))
    if target == "file":
        (pack / "rules" / "p9.yaml").symlink_to(outside / "p9.yaml")
        name = "rules/p9.yaml"
    else:
        (pack / "more").symlink_to(outside)
        name = "more"
    with pytest.raises(PolicySetError) as caught:
        load_bundle(pack)
    assert [(p.location.file, "symbolic link" in p.message) for p in caught.value.problems] == [(name, True)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: b\nc: d\uffffe\n", "p.yaml:2:5: YAML syntax: character U+FFFF is not allowed in YAML"),
        ("a: 2025-13-45\n", "p.yaml:1:4: YAML value: month must be in 1..12 at a"),
        ("b: &m 5\nc:\n  <<: *m\n", "p.yaml:3:3: YAML merge: expected a mapping or list of mappings"),
    ],
    ids=["forbidden-character", "impossible-date", "merge-of-a-scalar"],
)
def test_values_yaml_cannot_build_are_located_problems_not_exceptions(text: str, expected: str) -> None:
    """Found by bench.fuzz: each of these raised out of tamis check with a traceback."""
    _, found = parse_yaml("p.yaml", text)
    assert str(found[0]).startswith(expected)


def test_entries_named_yaml_that_are_not_files_are_refused_without_blocking(write_pack: Write) -> None:
    """A FIFO would block whoever opens it, and a skipped folder would serve another pack (R10)."""
    pack = write_pack(base_pack(policy()))
    os.mkfifo(pack / "rules" / "evil.yaml")
    (pack / "rules" / "dir.yaml").mkdir()
    with pytest.raises(PolicySetError) as caught:
        load_bundle(pack)
    assert sorted((p.location.file, p.message.split(",")[0]) for p in caught.value.problems) == [
        ("rules/dir.yaml", "a folder"),
        ("rules/evil.yaml", "a FIFO"),
    ]
