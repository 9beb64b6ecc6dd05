"""What differs between two policy packs, in the terms an author reviews: policies, conditions,
grounds, dates, lexicon terms, instruments, lists and attributes.

A policy's conditions are compared as the set of their tests (each written on one line, with its
place in the tree: `when`, `unless[0]`), so a reordered `any:` is no change and a new term shows
as the one line it adds. Examples, notes and descriptions change no verdict and are named only.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from tamis.engine.bundle import Bundle
from tamis.engine.conditions import Leaf, leaves
from tamis.engine.model import LexiconTest, ObfuscationTest, Policy, RegexTest

#: Policy fields that decide verdicts, compared one by one (conditions and grounds on their own).
_POLICY_FIELDS = ("title", "decision", "applies_in", "except_in", "in_force", "confidence", "tags")
#: Policy fields that decide no verdict: a change is named, not detailed.
_PROSE_FIELDS = ("description", "note", "examples")


@dataclass(frozen=True)
class PolicyChange:
    """How one policy present in both packs differs."""

    policy: str
    fields: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    conditions_added: list[str] = field(default_factory=list)
    conditions_removed: list[str] = field(default_factory=list)
    grounds_added: list[str] = field(default_factory=list)
    grounds_removed: list[str] = field(default_factory=list)
    prose: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "fields": {name: {"old": old, "new": new} for name, (old, new) in self.fields.items()},
            "conditions_added": self.conditions_added,
            "conditions_removed": self.conditions_removed,
            "grounds_added": self.grounds_added,
            "grounds_removed": self.grounds_removed,
            "prose": self.prose,
        }


@dataclass(frozen=True)
class SetChange:
    """Entries of a named collection (a lexicon's terms, a list's values, an instrument's articles)."""

    name: str
    added: list[str]
    removed: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "added": self.added, "removed": self.removed}


@dataclass(frozen=True)
class PackDiff:
    old_digest: str
    new_digest: str
    policies_added: list[str]
    policies_removed: list[str]
    policies_changed: list[PolicyChange]
    lexicons_added: list[str]
    lexicons_removed: list[str]
    lexicons_changed: list[SetChange]
    instruments_added: list[str]
    instruments_removed: list[str]
    instruments_changed: list[SetChange]
    lists_added: list[str]
    lists_removed: list[str]
    lists_changed: list[SetChange]
    attributes_changed: bool

    @property
    def empty(self) -> bool:
        return self.old_digest == self.new_digest

    def to_dict(self) -> dict[str, Any]:
        return {
            "old": self.old_digest,
            "new": self.new_digest,
            "policies": {
                "added": self.policies_added,
                "removed": self.policies_removed,
                "changed": [change.to_dict() for change in self.policies_changed],
            },
            "lexicons": _section(self.lexicons_added, self.lexicons_removed, self.lexicons_changed),
            "instruments": _section(
                self.instruments_added, self.instruments_removed, self.instruments_changed
            ),
            "lists": _section(self.lists_added, self.lists_removed, self.lists_changed),
            "attributes_changed": self.attributes_changed,
        }

    def lines(self) -> Iterator[str]:
        """The readable form, one line at a time."""
        yield f"pack diff {self.old_digest} -> {self.new_digest}"
        if self.empty:
            yield "  identical sources"
            return
        for policy in self.policies_added:
            yield f"  + policy {policy}"
        for policy in self.policies_removed:
            yield f"  - policy {policy}"
        for change in self.policies_changed:
            yield f"  ~ policy {change.policy}"
            for name, (old, new) in change.fields.items():
                yield f"      {name}: {_short(old)} -> {_short(new)}"
            yield from (f"      + {line}" for line in change.conditions_added)
            yield from (f"      - {line}" for line in change.conditions_removed)
            yield from (f"      + ground {ground}" for ground in change.grounds_added)
            yield from (f"      - ground {ground}" for ground in change.grounds_removed)
            if change.prose:
                yield f"      (also changed: {', '.join(change.prose)})"
        for kind, added, removed, changed in (
            ("lexicon", self.lexicons_added, self.lexicons_removed, self.lexicons_changed),
            ("instrument", self.instruments_added, self.instruments_removed, self.instruments_changed),
            ("list", self.lists_added, self.lists_removed, self.lists_changed),
        ):
            yield from (f"  + {kind} {name}" for name in added)
            yield from (f"  - {kind} {name}" for name in removed)
            for entry in changed:
                yield f"  ~ {kind} {entry.name}"
                yield from (f"      + {item}" for item in entry.added)
                yield from (f"      - {item}" for item in entry.removed)
        if self.attributes_changed:
            yield "  ~ attributes.yaml (declared attributes: types, aliases, numbers read from text)"


def diff_bundles(old: Bundle, new: Bundle) -> PackDiff:
    """Every difference between two packs that a reviewer should see."""
    a, b = old.policy_set, new.policy_set
    old_policies = {policy.id: policy for policy in a.policies}
    new_policies = {policy.id: policy for policy in b.policies}
    lexicons = _keyed(a.lexicons, b.lexicons, _lexicon_entries)
    instruments = _keyed(a.instruments, b.instruments, _instrument_entries)
    lists = _keyed(a.lists, b.lists, lambda value_list: set(value_list.values))
    return PackDiff(
        old.digest,
        new.digest,
        sorted(new_policies.keys() - old_policies.keys()),
        sorted(old_policies.keys() - new_policies.keys()),
        [
            change
            for policy_id in sorted(old_policies.keys() & new_policies.keys())
            if (change := _policy_change(old_policies[policy_id], new_policies[policy_id])) is not None
        ],
        *lexicons,
        *instruments,
        *lists,
        attributes_changed=a.attributes != b.attributes,
    )


def _policy_change(old: Policy, new: Policy) -> PolicyChange | None:
    if old == new:
        return None
    fields = {
        name: (_plain(getattr(old, name)), _plain(getattr(new, name)))
        for name in _POLICY_FIELDS
        if getattr(old, name) != getattr(new, name)
    }
    old_tests, new_tests = set(conditions(old)), set(conditions(new))
    old_grounds = {f"{g.instrument} art. {g.article}" for g in old.grounds}
    new_grounds = {f"{g.instrument} art. {g.article}" for g in new.grounds}
    return PolicyChange(
        old.id,
        fields,
        sorted(new_tests - old_tests),
        sorted(old_tests - new_tests),
        sorted(new_grounds - old_grounds),
        sorted(old_grounds - new_grounds),
        [name for name in _PROSE_FIELDS if getattr(old, name) != getattr(new, name)],
    )


def conditions(policy: Policy) -> Iterator[str]:
    """Each test of the policy's conditions on one line, prefixed by where it sits
    (`unless[1].any.not: …`)."""
    for leaf, path in leaves(policy):
        head, rest = ("when", path[1:]) if path[0] == "when" else (f"unless[{path[1]}]", path[2:])
        where = ".".join([head, *(str(part) for part in rest if isinstance(part, str))])
        yield f"{where}: {_test(leaf)}"


def _test(leaf: Leaf) -> str:
    if isinstance(leaf, LexiconTest):
        return f"lexicon {leaf.lexicon} in {', '.join(leaf.fields)}"
    if isinstance(leaf, RegexTest):
        return f"regex {leaf.regex!r} in {', '.join(leaf.fields)}"
    if isinstance(leaf, ObfuscationTest):
        return f"obfuscated text in {', '.join(leaf.fields)}"
    source = f" (source {leaf.source})" if leaf.source != "any" else ""
    return f"{leaf.field} {leaf.operator} {_plain(leaf.operand)!r}{source}"


def _lexicon_entries(lexicon: Any) -> set[str]:
    return {f"{language}: {term}" for language, terms in lexicon.terms.items() for term in terms} | {
        f"exclude {language}: {term}" for language, terms in lexicon.exclude.items() for term in terms
    }


def _instrument_entries(instrument: Any) -> set[str]:
    """Articles with their versions: a new version of an article shows as a changed line."""
    entries = {f"title: {instrument.title}", f"url: {instrument.url}"}
    for number, article in instrument.articles.items():
        versions = "; ".join(
            f"{version.label} ({version.from_ or '…'} to {version.to or '…'})" for version in article.versions
        )
        entries.add(f"art. {number}" + (f" [{versions}]" if versions else ""))
    return entries


def _keyed(
    old: Mapping[str, Any], new: Mapping[str, Any], entries: Any
) -> tuple[list[str], list[str], list[SetChange]]:
    changed = []
    for name in sorted(old.keys() & new.keys()):
        if old[name] != new[name]:
            before, after = entries(old[name]), entries(new[name])
            changed.append(SetChange(name, sorted(after - before), sorted(before - after)))
    return sorted(new.keys() - old.keys()), sorted(old.keys() - new.keys()), changed


def _section(added: list[str], removed: list[str], changed: list[SetChange]) -> dict[str, Any]:
    return {"added": added, "removed": removed, "changed": [entry.to_dict() for entry in changed]}


def _plain(value: Any) -> Any:
    """JSON-ready: models as their YAML form, tuples as lists, dates as ISO text."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    if isinstance(value, tuple):
        return [_plain(item) for item in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value.value if hasattr(value, "value") else value


def _short(value: Any, limit: int = 120) -> str:
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
