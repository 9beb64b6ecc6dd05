"""The one walker over a policy's condition tree (`all`, `any`, `not` and the leaf tests).

Checking references, compiling to rules, linting, coverage and explanation each compute
something different from the same tree; they say what at a leaf and at each kind of node
(a `Fold`), and `walk` does the walking, with the key path of each node for error locations.
A named condition (`condition: for_children`) is walked as the tree it names, at the path of
the name (so a location points at the line that uses it); loading writes the trees out
(`resolve`), so past loading no policy holds a name.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Protocol, TypeVar

from tamis.engine.model import (
    AllOf,
    AnyOf,
    Condition,
    FieldTest,
    LexiconTest,
    NamedTest,
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


class UnknownCondition(LookupError):
    """A condition names no tree the walk was given (a name a named condition uses is one)."""

    def __init__(self, name: str, path: Path) -> None:
        super().__init__(name)
        self.name, self.path = name, path


_NO_NAMES: Mapping[str, Condition] = {}


def walk(
    condition: Condition,
    visit: Fold[T],
    path: Path,
    depth: int = 0,
    named: Mapping[str, Condition] = _NO_NAMES,
) -> T:
    """`visit` applied bottom-up over `condition`, found at key path `path`, with the trees of
    `named` in place of their names (their own trees may name none)."""
    if isinstance(condition, AllOf):
        return visit.all(
            [walk(c, visit, (*path, "all", i), depth + 1, named) for i, c in enumerate(condition.all)],
            path,
            depth,
        )
    if isinstance(condition, AnyOf):
        return visit.any(
            [walk(c, visit, (*path, "any", i), depth + 1, named) for i, c in enumerate(condition.any)],
            path,
            depth,
        )
    if isinstance(condition, NotOf):
        return visit.not_(walk(condition.not_, visit, (*path, "not"), depth + 1, named), path, depth)
    if isinstance(condition, NamedTest):
        if condition.condition not in named:
            raise UnknownCondition(condition.condition, path)
        return walk(named[condition.condition], visit, path, depth)
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


def condition_leaves(condition: Condition, path: Path) -> list[tuple[Leaf, Path]]:
    """Every leaf test of `condition` (found at `path`) with its key path, in file order;
    raises UnknownCondition at a name."""
    return walk(condition, _Leaves(), path)


def leaves(policy: Policy) -> Iterator[tuple[Leaf, Path]]:
    """Every leaf test of a policy with its key path, in file order."""
    for condition, path in roots(policy):
        yield from condition_leaves(condition, path)


#: The most tests and nodes a policy may hold once its names are written out: a name used
#: thousands of times over a large tree would otherwise build billions of nodes from two small files.
MAX_WRITTEN_OUT = 10_000


class WrittenOutTooLarge(ValueError):
    pass


class _Rebuild:
    """Fold: the tree again, names written out (the walk puts their trees in their place);
    stops past MAX_WRITTEN_OUT nodes, before building more."""

    def __init__(self) -> None:
        self.nodes = 0

    def _count(self, node: Condition) -> Condition:
        self.nodes += 1
        if self.nodes > MAX_WRITTEN_OUT:
            raise WrittenOutTooLarge(
                f"written out, its named conditions make more than {MAX_WRITTEN_OUT:,} tests"
            )
        return node

    def leaf(self, leaf: Leaf, path: Path, depth: int) -> Condition:
        return self._count(leaf)

    def all(self, children: list[Condition], path: Path, depth: int) -> Condition:
        return self._count(AllOf(all=tuple(children)))

    def any(self, children: list[Condition], path: Path, depth: int) -> Condition:
        return self._count(AnyOf(any=tuple(children)))

    def not_(self, child: Condition, path: Path, depth: int) -> Condition:
        return self._count(NotOf.model_validate({"not": child}))


def resolve(policy: Policy, named: Mapping[str, Condition]) -> Policy:
    """`policy` with the trees of its named conditions written out; raises UnknownCondition,
    WrittenOutTooLarge."""
    fold = _Rebuild()
    rebuilt = {path: walk(condition, fold, path, named=named) for condition, path in roots(policy)}
    return policy.model_copy(
        update={
            "when": rebuilt[("when",)],
            "unless": tuple(rebuilt[("unless", index)] for index in range(len(policy.unless))),
        }
    )
