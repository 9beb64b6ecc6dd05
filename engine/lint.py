"""Warnings about a valid policy set: what will not break loading but deserves a look."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from tamis.engine.conditions import condition_leaves, leaves
from tamis.engine.model import Confidence, FieldTest, LexiconTest
from tamis.engine.policyset import PolicySet

#: Fewer examples than this of each kind earns a warning.
MIN_EXAMPLES = 3


@dataclass(frozen=True)
class Warning:
    location: str
    message: str

    def __str__(self) -> str:
        return f"{self.location}: warning: {self.message}"


def lint(policy_set: PolicySet, today: date) -> list[Warning]:
    warnings: list[Warning] = []
    used_lexicons: set[str] = set()
    used_lists: set[str] = set()
    cited: set[str] = set()
    used_leaves: set[int] = set()
    for policy in policy_set.policies:
        where = str(policy_set.locate(policy.id))
        for kind in ("match", "no_match"):
            count = len(getattr(policy.examples, kind))
            if count < MIN_EXAMPLES:
                warnings.append(
                    Warning(where, f"{policy.id} has {count} '{kind}' examples (want {MIN_EXAMPLES})")
                )
        in_force = policy.in_force
        if in_force.to is not None and in_force.to < today:
            warnings.append(Warning(where, f"{policy.id} is no longer in force (ended {in_force.to})"))
        if in_force.from_ is not None and in_force.from_ > today:
            warnings.append(Warning(where, f"{policy.id} is not in force yet (starts {in_force.from_})"))
        if policy.decision == "block" and policy.confidence is not Confidence.HIGH:
            warnings.append(
                Warning(
                    where,
                    f"{policy.id} blocks with {policy.confidence.value} confidence; "
                    "a doubtful case should flag",
                )
            )
        cited.update(ground.instrument for ground in policy.grounds)
        if policy.in_force_on(today):
            for ground in policy.grounds:
                instrument = policy_set.instruments[ground.instrument]
                if not instrument.in_force_on(today):
                    warnings.append(
                        Warning(where, f"{policy.id} is in force but cites {ground.instrument}, which is not")
                    )
        for leaf, _ in leaves(policy):
            used_leaves.add(id(leaf))
            if isinstance(leaf, LexiconTest):
                used_lexicons.add(leaf.lexicon)
            elif isinstance(leaf, FieldTest) and leaf.in_list:
                used_lists.add(leaf.in_list)
    for name in sorted(set(policy_set.lexicons) - used_lexicons):
        warnings.append(Warning(_file_of(policy_set, "lexicons", name), f"lexicon '{name}' is not used"))
    for name in sorted(set(policy_set.lists) - used_lists):
        warnings.append(Warning(_file_of(policy_set, "lists", name), f"list '{name}' is not used"))
    for name in sorted(set(policy_set.instruments) - cited):
        warnings.append(Warning(_file_of(policy_set, "legal", name), f"instrument '{name}' is not cited"))
    return warnings + _unused_named_conditions(policy_set, used_leaves)


def _unused_named_conditions(policy_set: PolicySet, used_leaves: set[int]) -> list[Warning]:
    """A loaded policy holds the very test objects of the named conditions it uses, so a named
    condition none of whose tests any policy holds is used by none."""
    warnings = []
    for name, declared in sorted(policy_set.named.conditions.items()):
        if not any(id(leaf) in used_leaves for leaf, _ in condition_leaves(declared.when, ())):
            where = policy_set.documents["conditions.yaml"].locate(("conditions", name))
            warnings.append(Warning(str(where), f"condition '{name}' is not used"))
    return warnings


def _file_of(policy_set: PolicySet, folder: str, name: str) -> str:
    key = {"lexicons": "lexicon", "lists": "list", "legal": "instrument"}[folder]
    for file, document in policy_set.documents.items():
        if (
            file.startswith(folder + "/")
            and isinstance(document.value, dict)
            and document.value.get(key) == name
        ):
            return file
    return folder
