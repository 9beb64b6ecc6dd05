"""The listing fields that policies may test, with their types: the core contract of DESIGN.md,
which the engine owns, and the attributes a pack declares (policies/attributes.yaml)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from typing import Any


class Kind(StrEnum):
    """What a field holds, which decides the operators a condition may use on it."""

    STRING = "string"
    NUMBER = "number"
    BOOL = "bool"
    OBJECT = "object"
    STRINGS = "list of strings"


#: No price or product measure comes near this: a listing's number beyond it is refused (not
#: rounded), and so is a policy's threshold.
MAX_NUMBER = 10**15

#: The listing's core fields a condition may name with `field:` (the engine's own contract);
#: `attributes.*` come from the pack's declarations (policies/attributes.yaml).
CORE_FIELDS: dict[str, Kind] = {
    "title": Kind.STRING,
    "description": Kind.STRING,
    "category": Kind.STRING,
    "brand": Kind.STRING,
    "gtin": Kind.STRING,
    "marketplace": Kind.STRING,
    "price.amount": Kind.NUMBER,
    "price.currency": Kind.STRING,
    "seller.id": Kind.STRING,
    "seller.name": Kind.STRING,
    "seller.country": Kind.STRING,
    "seller.trader": Kind.OBJECT,
    "seller.trader.name": Kind.STRING,
    "seller.trader.address": Kind.STRING,
    "seller.trader.registration_number": Kind.STRING,
    "seller.trader.self_certified": Kind.BOOL,
}

#: Fields holding a country code, where `in`/`equals` also accept a group such as EU.
COUNTRY_FIELDS = frozenset({"seller.country"})

#: Core fields whose text lexicons and regular expressions may search (and every declared text
#: attribute, see Fields.text).
CORE_TEXT_FIELDS: tuple[str, ...] = ("title", "description", "category", "brand", "seller.name")

DEFAULT_TEXT_FIELDS: tuple[str, ...] = ("title", "description")

#: How attributes.yaml names a kind.
DECLARED_KINDS: dict[str, Kind] = {
    "number": Kind.NUMBER,
    "text": Kind.STRING,
    "boolean": Kind.BOOL,
    "list of text": Kind.STRINGS,
}


@dataclass(frozen=True, slots=True)
class Attribute:
    """A declared attribute as the contract checks it: its kind and, for text, the only values
    it may take (in their declared spelling; a listing's value is matched ignoring case)."""

    kind: Kind
    values: tuple[str, ...] = ()


@dataclass(frozen=True)
class Fields:
    """The fields of a pack's listings: the core ones and the attributes the pack declares."""

    attributes: Mapping[str, Attribute] = field(default_factory=dict)
    #: marketplace attribute name → declared name
    aliases: Mapping[str, str] = field(default_factory=dict)

    @cached_property
    def kinds(self) -> dict[str, Kind]:
        """Every path a condition may name with `field:`."""
        return {**CORE_FIELDS, **{f"attributes.{name}": a.kind for name, a in self.attributes.items()}}

    @cached_property
    def text(self) -> tuple[str, ...]:
        """Every field lexicons and regular expressions may search."""
        declared = (name for name, a in self.attributes.items() if a.kind in (Kind.STRING, Kind.STRINGS))
        return (*CORE_TEXT_FIELDS, *(f"attributes.{name}" for name in declared))


#: A listing judged without a pack: the core contract only, every attribute kept as given.
CORE_ONLY = Fields()


_PARTS: dict[str, tuple[str, ...]] = {}


def read_path(listing: dict[str, Any], path: str) -> Any:
    """The value at a dotted path of a validated listing, or None when absent."""
    parts = _PARTS.get(path)
    if parts is None:
        parts = _PARTS[path] = tuple(path.split("."))
    value: Any = listing
    for part in parts:
        if not isinstance(value, dict):
            return None
        value = value.get(part)
        if value is None:
            return None
    return value


def read_text(listing: dict[str, Any], path: str) -> str | None:
    """A text field as one string (a list of strings is joined with commas)."""
    value = read_path(listing, path) if "." in path else listing.get(path)
    if isinstance(value, list):
        return ", ".join(value) if value else None
    return value if isinstance(value, str) and value else None
