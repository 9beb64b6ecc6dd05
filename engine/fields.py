"""The listing fields that policies may test, with their types (the JSON contract in DESIGN.md)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class Kind(StrEnum):
    """What a field holds, which decides the operators a condition may use on it."""

    STRING = "string"
    NUMBER = "number"
    BOOL = "bool"
    OBJECT = "object"
    STRINGS = "list of strings"


#: Canonical attributes: numbers are plain numbers in the unit their name says.
CANONICAL_ATTRIBUTES: dict[str, Kind] = {
    "height_cm": Kind.NUMBER,
    "weight_kg": Kind.NUMBER,
    "material": Kind.STRING,
    "nicotine_mg_ml": Kind.NUMBER,
    "volume_ml": Kind.NUMBER,
    "laser_class": Kind.STRING,
    "laser_power_mw": Kind.NUMBER,
    "blade_length_cm": Kind.NUMBER,
    "net_weight_g": Kind.NUMBER,  # content of one container (e.g. grams of gas in a cartridge)
    "pack_count": Kind.NUMBER,  # units in one offer (cartridges in a box)
    "energy_j": Kind.NUMBER,  # muzzle energy of a projectile launcher, in joules
    "age_min": Kind.NUMBER,
    "contains": Kind.STRINGS,
    "ingredients": Kind.STRING,
    "ce_marking": Kind.BOOL,
    "eu_responsible_person": Kind.STRING,
    "prescription_only": Kind.BOOL,
}

#: No price or product measure comes near this: a listing's number beyond it is refused (not
#: rounded), and so is a policy's threshold.
MAX_NUMBER = 10**15

LASER_CLASSES = ("1", "1M", "2", "2M", "3R", "3B", "4")

#: Every path a condition may name with `field:`.
FIELDS: dict[str, Kind] = {
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
    **{f"attributes.{name}": kind for name, kind in CANONICAL_ATTRIBUTES.items()},
}

#: Fields holding a country code, where `in`/`equals` also accept a group such as EU.
COUNTRY_FIELDS = frozenset({"seller.country"})

#: Fields whose text lexicons and regular expressions may search.
TEXT_FIELDS: tuple[str, ...] = (
    "title",
    "description",
    "category",
    "brand",
    "seller.name",
    "attributes.material",
    "attributes.ingredients",
    "attributes.contains",
)

DEFAULT_TEXT_FIELDS: tuple[str, ...] = ("title", "description")


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
