"""Load a policy pack into a validated policy set, or reject it whole with every problem located.

Layout of a pack (see policies/README.md):

* `legal/*.yaml`: one legal instrument per file, with the articles policies cite;
* `lexicons/*.yaml`: one lexicon per file;
* `lists/*.yaml`: named value lists (e.g. recalled GTINs);
* `attributes.yaml`: the attributes listings may carry (type, unit, marketplace aliases, numbers
  read from text);
* `conditions.yaml`: conditions several policies test, each under a name;
* every other `*.yaml`: one policy per file.
"""

from __future__ import annotations

import difflib
import types
import typing
from dataclasses import dataclass, field, replace
from datetime import date
from functools import cached_property
from typing import Any

from pydantic import BaseModel, ValidationError

from tamis.engine import countries, lexicons
from tamis.engine.conditions import (
    Leaf,
    UnknownCondition,
    WrittenOutTooLarge,
    condition_leaves,
    leaves,
    resolve,
)
from tamis.engine.dsatags import tag_problems
from tamis.engine.errors import ListingError, PolicyProblem, PolicySetError, SourceLocation
from tamis.engine.fields import DEFAULT_TEXT_FIELDS, Attribute, Fields
from tamis.engine.listing import validate_listing
from tamis.engine.model import (
    SEARCHED_BY_DEFAULT,
    Attributes,
    Example,
    FieldTest,
    Instrument,
    Lexicon,
    LexiconTest,
    NamedConditions,
    ObfuscationTest,
    Policy,
    RegexTest,
    ValueList,
    check_field_test,
)
from tamis.engine.sources import SourceTree
from tamis.engine.yamldoc import Path, YamlDocument, parse_yaml

_KINDS: dict[str, type[BaseModel]] = {
    "legal": Instrument,
    "lexicons": Lexicon,
    "lists": ValueList,
}


@dataclass(frozen=True)
class PolicySet:
    """Everything a pack declares, validated and cross-checked."""

    policies: tuple[Policy, ...]
    instruments: dict[str, Instrument]
    lexicons: dict[str, Lexicon]
    lists: dict[str, ValueList]
    attributes: Attributes
    named: NamedConditions
    documents: dict[str, YamlDocument] = field(repr=False)
    policy_files: dict[str, str] = field(repr=False)

    @cached_property
    def fields(self) -> Fields:
        """The listing contract of this pack: core fields and declared attributes."""
        declared = self.attributes.attributes
        return Fields(
            {name: Attribute(a.kind, a.values, a.searched) for name, a in declared.items()},
            {alias: name for name, a in declared.items() for alias in a.aliases},
        )

    def locate(self, policy_id: str, path: Path = ()) -> SourceLocation:
        return self.documents[self.policy_files[policy_id]].locate(path)


ATTRIBUTES = "attributes.yaml"


def kind_of(name: str) -> type[BaseModel]:
    """Which model a file of the pack holds, from its path."""
    if name == ATTRIBUTES:
        return Attributes
    if name == "conditions.yaml":
        return NamedConditions
    return _KINDS.get(name.split("/", 1)[0], Policy) if "/" in name else Policy


def load_policy_set(tree: SourceTree) -> PolicySet:
    """Validate every file, then the references between them; raise PolicySetError if any fail."""
    problems: list[PolicyProblem] = []
    documents: dict[str, YamlDocument] = {}
    models: dict[str, BaseModel] = {}
    for name in sorted(tree):
        try:
            text = tree[name].decode("utf-8")
        except UnicodeDecodeError as error:
            problems.append(PolicyProblem(SourceLocation(name), "", f"not UTF-8 text: {error}"))
            continue
        document, found = parse_yaml(name, text)
        problems += found
        if document is not None:
            documents[name] = document
    # The attributes first: those marked `searched` are what the other files' lexicon and regex
    # tests search when they name no fields.
    declared = _validate(documents[ATTRIBUTES], Attributes, problems) if ATTRIBUTES in documents else None
    default = declared.searched_by_default if isinstance(declared, Attributes) else DEFAULT_TEXT_FIELDS
    context = {SEARCHED_BY_DEFAULT: default}
    for name, document in documents.items():
        model = declared if name == ATTRIBUTES else _validate(document, kind_of(name), problems, context)
        if model is not None:
            models[name] = model
    policy_set = _assemble(models, documents, problems)
    policy_set = _resolve_named(policy_set, problems)
    problems += _cross_check(policy_set)
    if problems:
        raise PolicySetError(problems)
    return policy_set


def _validate(
    document: YamlDocument,
    model: type[BaseModel],
    problems: list[PolicyProblem],
    context: dict[str, Any] | None = None,
) -> BaseModel | None:
    if not isinstance(document.value, dict):
        problems.append(document.problem((), f"expected a mapping of keys for a {model.__name__.lower()}"))
        return None
    try:
        return model.model_validate(document.value, context=context)
    except ValidationError as error:
        problems += _explain(document, model, error)
        return None


def _explain(document: YamlDocument, model: type[BaseModel], error: ValidationError) -> list[PolicyProblem]:
    """Pydantic errors → located problems, each saying what was expected."""
    raw = error.errors(include_url=False)
    locations = [tuple(part for part in item["loc"] if not _is_tag(part)) for item in raw]
    found: list[PolicyProblem] = []
    for item, path in zip(raw, locations, strict=True):
        # An error on a container is noise when one of its children has its own error.
        if any(other != path and other[: len(path)] == path for other in locations):
            continue
        found.append(document.problem(path, _message(model, item, path)))
    return found


def _is_tag(part: str | int) -> bool:
    return isinstance(part, str) and part.startswith("<") and part.endswith(">")


def _message(model: type[BaseModel], item: Any, path: Path) -> str:
    kind = item["type"]
    if kind == "extra_forbidden":
        key = str(path[-1])
        allowed = _keys_at(model, tuple(item["loc"])[:-1])
        hint = difflib.get_close_matches(key, allowed, n=1)
        suggestion = f"; did you mean '{hint[0]}'?" if hint else ""
        return f"unknown key '{key}'{suggestion} (expected one of: {', '.join(allowed)})"
    if kind == "missing":
        return f"missing required key '{path[-1]}'"
    message = str(item["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    return message.replace("Input should be", "expected")


def _keys_at(model: type[BaseModel], loc: tuple[str | int, ...]) -> list[str]:
    """The keys a mapping at pydantic location `loc` accepts (walking the model's type hints;
    union tags in `loc` pick the member)."""
    current: Any = model
    for part in loc:
        current = _step(current, part)
        if current is None:
            return []
    current = _strip(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return sorted(info.alias or name for name, info in current.model_fields.items())
    return []


def _strip(annotation: Any) -> Any:
    """Remove Annotated and Optional wrappers."""
    while True:
        if typing.get_origin(annotation) is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif typing.get_origin(annotation) in (typing.Union, types.UnionType):
            options = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
            if len(options) != 1:
                return annotation
            annotation = options[0]
        else:
            return annotation


def _step(current: Any, part: str | int) -> Any:
    current = _strip(current)
    if _is_tag(part) and typing.get_origin(current) in (typing.Union, types.UnionType):
        for option in typing.get_args(current):
            if any(getattr(meta, "tag", None) == part for meta in getattr(option, "__metadata__", ())):
                return option
        return None
    if isinstance(part, int):
        args = typing.get_args(current)
        return args[0] if args else None
    if isinstance(current, type) and issubclass(current, BaseModel):
        for name, info in current.model_fields.items():
            if part in (name, info.alias):
                return info.annotation
        return None
    if typing.get_origin(current) is dict:
        return typing.get_args(current)[1]
    return None


# --- assembling and cross-checking -------------------------------------------------------


def _assemble(
    models: dict[str, BaseModel], documents: dict[str, YamlDocument], problems: list[PolicyProblem]
) -> PolicySet:
    policies: list[Policy] = []
    policy_files: dict[str, str] = {}
    instruments: dict[str, Instrument] = {}
    lexicon_map: dict[str, Lexicon] = {}
    lists: dict[str, ValueList] = {}
    attributes = Attributes()
    named = NamedConditions()
    first_file: dict[tuple[str, str], str] = {}

    def unique(kind: str, key: str, name: str, path: Path) -> bool:
        if (kind, key) in first_file:
            problems.append(
                documents[name].problem(
                    path, f"duplicate {kind} '{key}' (first declared in {first_file[kind, key]})"
                )
            )
            return False
        first_file[kind, key] = name
        return True

    for name, model in models.items():
        if isinstance(model, Policy) and unique("policy id", model.id, name, ("id",)):
            policies.append(model)
            policy_files[model.id] = name
        elif isinstance(model, Instrument) and unique("instrument", model.instrument, name, ("instrument",)):
            instruments[model.instrument] = model
        elif isinstance(model, Lexicon) and unique("lexicon", model.lexicon, name, ("lexicon",)):
            lexicon_map[model.lexicon] = model
        elif isinstance(model, ValueList) and unique("list", model.list, name, ("list",)):
            lists[model.list] = model
        elif isinstance(model, Attributes):
            attributes = model
        elif isinstance(model, NamedConditions):
            named = model
    return PolicySet(
        tuple(sorted(policies, key=lambda policy: policy.id)),
        instruments,
        lexicon_map,
        lists,
        attributes,
        named,
        documents,
        policy_files,
    )


def _cross_check(policy_set: PolicySet) -> list[PolicyProblem]:
    problems: list[PolicyProblem] = []
    for name, document in policy_set.documents.items():
        if kind_of(name) is Lexicon and isinstance(document.value, dict):
            lexicon = policy_set.lexicons.get(str(document.value.get("lexicon")))
            for term, reason in lexicons.problems(lexicon) if lexicon else ():
                problems.append(document.problem(("terms",), f"term '{term}': {reason}"))
    problems += _check_attributes(policy_set)
    problems += _check_named_conditions(policy_set)
    shared = _shared_leaves(policy_set)
    for policy in policy_set.policies:
        document = policy_set.documents[policy_set.policy_files[policy.id]]
        problems += _check_grounds(policy_set, policy, document)
        problems += [document.problem(("tags",), problem) for problem in tag_problems(policy.tags)]
        problems += _check_policy_leaves(policy_set, policy, document, shared)
        problems += _check_examples(policy_set, policy, document)
    return problems


def _check_grounds(policy_set: PolicySet, policy: Policy, document: YamlDocument) -> list[PolicyProblem]:
    problems = []
    for index, ground in enumerate(policy.grounds):
        instrument = policy_set.instruments.get(ground.instrument)
        if instrument is None:
            known = ", ".join(sorted(policy_set.instruments)) or "none declared"
            problems.append(
                document.problem(
                    ("grounds", index, "instrument"),
                    f"instrument '{ground.instrument}' is not declared in legal/ (known: {known})",
                )
            )
        elif ground.article not in instrument.articles:
            problems.append(
                document.problem(
                    ("grounds", index, "article"),
                    f"article '{ground.article}' is not declared for {ground.instrument} "
                    f"(declared: {', '.join(instrument.articles)})",
                )
            )
    return problems


def _resolve_named(policy_set: PolicySet, problems: list[PolicyProblem]) -> PolicySet:
    """The set with named conditions written out in each policy that can be (a policy naming an
    unknown condition is left as written, for the cross-check to report)."""
    named = {name: declared.when for name, declared in policy_set.named.conditions.items()}
    resolved = []
    for policy in policy_set.policies:
        try:
            resolved.append(resolve(policy, named))
        except UnknownCondition:
            resolved.append(policy)
        except WrittenOutTooLarge as error:
            document = policy_set.documents[policy_set.policy_files[policy.id]]
            problems.append(document.problem(("when",), str(error)))
    return replace(policy_set, policies=tuple(resolved))


def _check_named_conditions(policy_set: PolicySet) -> list[PolicyProblem]:
    """Each shared condition is checked once, where it is written, as a policy's would be."""
    document = policy_set.documents.get("conditions.yaml")
    if document is None:
        return []
    problems: list[PolicyProblem] = []
    for name, declared in policy_set.named.conditions.items():
        try:
            for leaf, path in condition_leaves(declared.when, ("conditions", name, "when")):
                problems += _check_leaf(policy_set, leaf, path, document)
        except UnknownCondition as error:
            problems.append(document.problem(error.path, "a named condition cannot use another one"))
    return problems


def _shared_leaves(policy_set: PolicySet) -> set[int]:
    """The tests written in named conditions: a policy using one holds these very objects."""
    found: set[int] = set()
    for declared in policy_set.named.conditions.values():
        try:
            found |= {id(leaf) for leaf, _ in condition_leaves(declared.when, ())}
        except UnknownCondition:  # reported where it is written
            continue
    return found


def _check_policy_leaves(
    policy_set: PolicySet, policy: Policy, document: YamlDocument, shared: set[int]
) -> list[PolicyProblem]:
    """The policy's own tests; those of named conditions (`shared`) were checked where they
    are written, and are not reported again for each policy using them."""
    problems: list[PolicyProblem] = []
    try:
        for leaf, path in leaves(policy):
            if id(leaf) not in shared:
                problems += _check_leaf(policy_set, leaf, path, document)
    except UnknownCondition as error:
        if error.name in policy_set.named.conditions:  # a name inside a named condition
            return problems
        known = ", ".join(sorted(policy_set.named.conditions)) or "none declared"
        problems.append(
            document.problem(
                (*error.path, "condition"),
                f"unknown condition '{error.name}' (conditions.yaml declares: {known})",
            )
        )
    return problems


def _check_leaf(
    policy_set: PolicySet, condition: Leaf, path: Path, document: YamlDocument
) -> list[PolicyProblem]:
    if isinstance(condition, LexiconTest) and condition.lexicon not in policy_set.lexicons:
        known = ", ".join(sorted(policy_set.lexicons)) or "none declared"
        return [
            document.problem((*path, "lexicon"), f"unknown lexicon '{condition.lexicon}' (known: {known})")
        ]
    if isinstance(condition, LexiconTest | RegexTest | ObfuscationTest):
        return _check_text_fields(policy_set, condition.fields, (*path, "fields"), document)
    if not isinstance(condition, FieldTest):
        return []
    kind = policy_set.fields.kinds.get(condition.field)
    if kind is None:
        declared = ", ".join(sorted(policy_set.attributes.attributes)) or "none"
        return [
            document.problem(
                (*path, "field"),
                f"attribute '{condition.field.removeprefix('attributes.')}' is not declared in "
                f"attributes.yaml (declared: {declared})",
            )
        ]
    if condition.field.startswith("attributes."):
        try:
            check_field_test(condition, kind)
        except ValueError as error:
            return [document.problem(path, str(error))]
    if condition.in_list and condition.in_list not in policy_set.lists:
        return [document.problem((*path, "in_list"), f"unknown list '{condition.in_list}'")]
    if condition.source == "text":
        attribute = condition.field.removeprefix("attributes.")
        if attribute not in policy_set.attributes.from_text:
            return [
                document.problem(
                    (*path, "source"),
                    f"{condition.field} is never read from text: declare it under "
                    "from_text in attributes.yaml",
                )
            ]
    return []


def _check_text_fields(
    policy_set: PolicySet, fields: tuple[str, ...], path: Path, document: YamlDocument
) -> list[PolicyProblem]:
    searchable = policy_set.fields.text
    return [
        document.problem(
            (*path, index),
            f"'{name}' is not a text field; expected one of: {', '.join(searchable)}",
        )
        for index, name in enumerate(fields)
        if name not in searchable
    ]


def _check_attributes(policy_set: PolicySet) -> list[PolicyProblem]:
    document = policy_set.documents.get(ATTRIBUTES)
    if document is None:
        return []
    problems = []
    declared = policy_set.attributes.attributes
    seen: dict[str, str] = {}
    for name, attribute in declared.items():
        for alias in attribute.aliases:
            if alias in declared or alias in seen:
                owner = alias if alias in declared else seen[alias]
                problems.append(
                    document.problem(
                        ("attributes", name, "aliases"), f"alias '{alias}' is already the name of {owner}"
                    )
                )
            seen[alias] = name
        for index, extraction in enumerate(attribute.from_text):
            problems += _check_text_fields(
                policy_set, extraction.fields, ("attributes", name, "from_text", index, "fields"), document
            )
    return problems


def example_listing(
    policy: Policy, kind: str, index: int, example: Example
) -> tuple[dict[str, Any], date | None]:
    """An example as a full listing (id and ship_to filled in) and the date it is judged at."""
    listing = dict(example.model_extra or {})
    listing.setdefault("id", f"{policy.id}/{kind}/{index}")
    listing.setdefault("ship_to", [default_country(policy)])
    return listing, example.as_of


def default_country(policy: Policy) -> str:
    """A country where the policy applies: its first named one, or France within a group."""
    where = countries.expand(list(policy.applies_in), list(policy.except_in))
    if policy.applies_in[0] in where:
        return policy.applies_in[0]
    return "FR" if "FR" in where else sorted(where)[0]


def _check_examples(policy_set: PolicySet, policy: Policy, document: YamlDocument) -> list[PolicyProblem]:
    problems = []
    for kind in ("match", "no_match"):
        for index, example in enumerate(getattr(policy.examples, kind)):
            listing, _ = example_listing(policy, kind, index, example)
            try:
                validate_listing(listing, fields=policy_set.fields)
            except ListingError as error:
                for violation in error.violations:
                    path: Path = ("examples", kind, index, *violation.field.split("."))
                    problems.append(document.problem(path, f"example is not a valid listing: {violation}"))
    return problems
