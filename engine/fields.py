"""The listing fields that policies may test, with their types: the core contract of DESIGN.md,
which the engine owns, and the attributes a pack declares (policies/attributes.yaml)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
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


@dataclass(frozen=True, slots=True)
class CoreField:
    """One field of the listing's core contract (DESIGN.md), which the engine owns."""

    kind: Kind
    description: str
    required: bool = False
    #: lexicons and regular expressions may search it
    searchable: bool = False
    #: policies may test it with `field:` (ids, destinations and dates are not product facts)
    testable: bool = True
    #: an object's own fields; empty for `attributes`, whose fields the pack declares
    children: Mapping[str, CoreField] = field(default_factory=dict)


_TEXT, _NUMBER, _BOOL = Kind.STRING, Kind.NUMBER, Kind.BOOL

#: The listing's core contract, in the order of listing.proto: validation (engine.listing), the
#: fields conditions may name, proto conversion (service.server.convert) and the catalogue follow
#: it, and a test holds listing.proto to it.
LISTING: dict[str, CoreField] = {
    "id": CoreField(_TEXT, "The marketplace's identifier of the listing.", required=True, testable=False),
    "title": CoreField(_TEXT, "The listing's title.", required=True, searchable=True),
    "description": CoreField(_TEXT, "Free text describing the product.", searchable=True),
    "category": CoreField(_TEXT, "The marketplace's own category path.", searchable=True),
    "brand": CoreField(_TEXT, "Brand name as given by the seller.", searchable=True),
    "gtin": CoreField(_TEXT, "GTIN (EAN/UPC): 8 to 14 digits."),
    "price": CoreField(
        Kind.OBJECT,
        "Price asked.",
        testable=False,
        children={
            "amount": CoreField(_NUMBER, "The amount, not negative.", required=True),
            "currency": CoreField(_TEXT, "ISO 4217 currency code.", required=True),
        },
    ),
    "attributes": CoreField(
        Kind.OBJECT, "Product attributes, as the policy pack declares them (attributes.yaml).", testable=False
    ),
    "seller": CoreField(
        Kind.OBJECT,
        "Who sells it.",
        testable=False,
        children={
            "id": CoreField(_TEXT, "The marketplace's identifier of the seller."),
            "name": CoreField(_TEXT, "The seller's display name.", searchable=True),
            "country": CoreField(_TEXT, "ISO 3166-1 alpha-2 code of the seller's country."),
            "trader": CoreField(
                Kind.OBJECT,
                "Trader details (DSA art. 30), when the seller is a trader.",
                children={
                    "name": CoreField(_TEXT, "The trader's legal name."),
                    "address": CoreField(_TEXT, "The trader's postal address."),
                    "registration_number": CoreField(_TEXT, "Trade register and registration number."),
                    "self_certified": CoreField(_BOOL, "Whether the trader self-certified compliance."),
                },
            ),
        },
    ),
    "ship_to": CoreField(
        Kind.STRINGS, "ISO 3166-1 alpha-2 codes of the destination countries.", required=True, testable=False
    ),
    "marketplace": CoreField(_TEXT, "The marketplace the listing is on."),
    "listed_at": CoreField(_TEXT, "When the listing was published (RFC 3339).", testable=False),
}


def core_paths(table: Mapping[str, CoreField] = LISTING, prefix: str = "") -> dict[str, CoreField]:
    """Every field of the table by its dotted path, objects before their fields."""
    paths: dict[str, CoreField] = {}
    for name, spec in table.items():
        paths[prefix + name] = spec
        paths.update(core_paths(spec.children, f"{prefix}{name}."))
    return paths


#: The listing's core fields a condition may name with `field:`; `attributes.*` come from the
#: pack's declarations (policies/attributes.yaml).
CORE_FIELDS: dict[str, Kind] = {path: spec.kind for path, spec in core_paths().items() if spec.testable}

#: Fields holding a country code, where `in`/`equals` also accept a group such as EU.
COUNTRY_FIELDS = frozenset({"seller.country"})

#: Core fields whose text lexicons and regular expressions may search (and every declared text
#: attribute, see Fields.text).
CORE_TEXT_FIELDS: tuple[str, ...] = tuple(path for path, spec in core_paths().items() if spec.searchable)

DEFAULT_TEXT_FIELDS: tuple[str, ...] = ("title", "description")


def searched_by_default(searched: Iterable[str]) -> tuple[str, ...]:
    """The fields a lexicon or regex test searches when it names none: title, description, then
    the attributes the pack marks `searched` (in declaration order), which decide as text does."""
    return (*DEFAULT_TEXT_FIELDS, *(f"attributes.{name}" for name in searched))


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
    #: lexicon and regex tests that name no fields search it (attributes.yaml `searched: true`)
    searched: bool = False


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

    @cached_property
    def searched(self) -> tuple[str, ...]:
        """What a lexicon or regex test searches when it names no fields."""
        return searched_by_default(name for name, a in self.attributes.items() if a.searched)


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
