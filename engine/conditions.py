"""The one walker over a policy's condition tree (`all`, `any`, `not` and the leaf tests).

Checking references, compiling to rules, linting, coverage and explanation each compute
something different from the same tree; they say what at a leaf and at each kind of node
(a `Fold`), and `walk` does the walking, with the key path of each node for error locations.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol, TypeVar

from tamis.engine.model import (
    AllOf,
    AnyOf,
    Condition,
    FieldTest,
    LexiconTest,
    NotOf,
    ObfuscationTest,
    Policy,
    RegexTest,
)
from tamis.engine.yamldoc import Path

Leaf = LexiconTest | RegexTest | ObfuscationTest | FieldTest
T = TypeVar("T")


class Fold(Protocol[T]):
    """What a walk computes: at a leaf, and at a node from what its children computed."""

    def leaf(self, leaf: Leaf, path: Path, depth: int) -> T: ...

    def all(self, children: list[T], path: Path, depth: int) -> T: ...

    def any(self, children: list[T], path: Path, depth: int) -> T: ...

    def not_(self, child: T, path: Path, depth: int) -> T: ...


def walk(condition: Condition, visit: Fold[T], path: Path, depth: int = 0) -> T:
    """`visit` applied bottom-up over `condition`, found at key path `path`."""
    if isinstance(condition, AllOf):
        return visit.all(
            [walk(c, visit, (*path, "all", i), depth + 1) for i, c in enumerate(condition.all)], path, depth
        )
    if isinstance(condition, AnyOf):
        return visit.any(
            [walk(c, visit, (*path, "any", i), depth + 1) for i, c in enumerate(condition.any)], path, depth
        )
    if isinstance(condition, NotOf):
        return visit.not_(walk(condition.not_, visit, (*path, "not"), depth + 1), path, depth)
    return visit.leaf(condition, path, depth)


def roots(policy: Policy) -> Iterator[tuple[Condition, Path]]:
    """A policy's condition trees with their key paths: `when`, then each `unless`."""
    yield policy.when, ("when",)
    for index, exception in enumerate(policy.unless):
        yield exception, ("unless", index)


class _Leaves:
    def leaf(self, leaf: Leaf, path: Path, depth: int) -> list[tuple[Leaf, Path]]:
        return [(leaf, path)]

    def all(self, children: list[list[tuple[Leaf, Path]]], path: Path, depth: int) -> list[tuple[Leaf, Path]]:
        return [item for child in children for item in child]

    any = all

    def not_(self, child: list[tuple[Leaf, Path]], path: Path, depth: int) -> list[tuple[Leaf, Path]]:
        return child


def leaves(policy: Policy) -> Iterator[tuple[Leaf, Path]]:
    """Every leaf test of a policy with its key path, in file order."""
    for condition, path in roots(policy):
        yield from walk(condition, _Leaves(), path)
