"""The listing contract: check a JSON object field by field before anything judges it.

Every violation is collected (not just the first) and named by its field path, so that a
caller can fix its data in one go; the service turns them into google.rpc.BadRequest details.
Unknown top-level fields are errors; attributes are checked as the policy pack declares them
(engine.fields.Fields), undeclared ones are kept and ignored; `null` means
absent. Each field has a quick test for the usual, valid value; only a value that fails it
goes through the checks that explain what is wrong.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tamis.engine import textnorm
from tamis.engine.countries import ISO_COUNTRIES
from tamis.engine.errors import FieldViolation, ListingError
from tamis.engine.fields import CORE_ONLY, LISTING, MAX_NUMBER, Attribute, Fields, Kind
from tamis.engine.quote import clip, quote


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on one listing; anything larger is refused as too large, not truncated."""

    max_text_chars: int = 20_000
    max_attributes: int = 200
    max_ship_to: int = 60
    max_list_items: int = 200
    max_listing_bytes: int = 256 * 1024
    max_listing_ms: int = 1000  # reading one listing's text; beyond, it gets an error


DEFAULT_LIMITS = Limits()

_PRICE = frozenset(LISTING["price"].children)
_SELLER = frozenset(LISTING["seller"].children)
_TRADER = frozenset(LISTING["seller"].children["trader"].children)
_GTIN = re.compile(r"^\d{8,14}$")
#: RFC 3339 § 5.6: a full date, a time and an offset. Python alone also takes a bare date, basic
#: forms such as 20251120T091200 and no offset, and the DSA statement reads the first ten characters.
_RFC3339 = re.compile(r"\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:[Zz]|[+-]\d\d:\d\d)", re.ASCII)
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_REQUIRED = tuple(name for name, spec in LISTING.items() if spec.required)
#: How an id's invisible character is named when Unicode gives it no name.
_CATEGORY_NAMES = {"Cc": "a control character", "Co": "a private-use character", "Cs": "a surrogate"}


class _Checker:
    """Collects violations; each method returns the clean value, or None after a violation."""

    __slots__ = ("limits", "too_large", "violations")

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.violations: list[FieldViolation] = []
        self.too_large = False

    def fail(self, field: str, description: str) -> None:
        self.violations.append(FieldViolation(field, description))

    def text(self, field: str, value: Any, *, required: bool = False) -> str | None:
        usual = type(value) is str and 0 < len(value) <= self.limits.max_text_chars
        if usual and not (required and value.isspace()) and (value.isascii() or _is_unicode(value)):
            return value  # type: ignore[no-any-return]
        if value is None:
            if required:
                self.fail(field, "is required")
            return None
        if not isinstance(value, str):
            self.fail(field, f"expected a string, got {_type_name(value)}")
            return None
        if required and not value.strip():
            self.fail(field, "must not be empty")
            return None
        if len(value) > self.limits.max_text_chars:
            self.too_large = True
            self.fail(field, f"is {len(value)} characters long; the limit is {self.limits.max_text_chars}")
            return None
        if not _is_unicode(value):
            self.fail(field, "is not valid Unicode: it holds a lone surrogate code point")
            return None
        return value

    def number(self, field: str, value: Any) -> float | int | None:
        if type(value) is int or (type(value) is float and math.isfinite(value)):
            if -MAX_NUMBER <= value <= MAX_NUMBER:
                return value
            self.fail(field, "is beyond ±10^15; no listing needs a number that large")
            return None
        if value is not None:
            self.fail(field, f"expected a number, got {_type_name(value)}")
        return None

    def boolean(self, field: str, value: Any) -> bool | None:
        if value is None or type(value) is bool:
            return value
        self.fail(field, f"expected true or false, got {_type_name(value)}")
        return None

    def country(self, field: str, value: Any) -> str | None:
        if type(value) is str and value in ISO_COUNTRIES:
            return value
        code = self.text(field, value)
        if code is None:
            return None
        if code.upper() not in ISO_COUNTRIES:
            self.fail(field, f"{quote(code)} is not an ISO 3166-1 alpha-2 country code")
            return None
        return code.upper()

    def identifier(self, field: str, value: Any, *, required: bool = False) -> str | None:
        """An id is shown to reviewers and auditors as it is: control, format (bidirectional
        overrides, zero-width) and other invisible characters are refused, and so are the
        printable ones that show nothing (variation selectors, Hangul fillers, the braille
        blank: engine.textnorm.is_invisible), or two ids would look the same."""
        text = self.text(field, value, required=required)
        if text is None or (text.isascii() and text.isprintable()):
            return text
        hidden = next(
            ((i, c) for i, c in enumerate(text) if not c.isprintable() or textnorm.is_invisible(c)), None
        )
        if hidden is None:
            return text
        position, char = hidden
        named = unicodedata.name(char, None) or _CATEGORY_NAMES.get(unicodedata.category(char), "unassigned")
        self.fail(
            field,
            f"must hold only visible characters and spaces; "
            f"character {position} is U+{ord(char):04X} ({named})",
        )
        return None

    def obj(self, field: str, value: Any, allowed: frozenset[str] | None) -> dict[str, Any] | None:
        if type(value) is not dict:
            if value is not None:
                self.fail(field, f"expected an object, got {_type_name(value)}")
            return None
        if allowed is not None and not allowed.issuperset(value):
            for key in value:
                if key not in allowed:
                    self.fail(
                        f"{field}.{clip(str(key))}",
                        f"unknown field; expected one of {', '.join(sorted(allowed))}",
                    )
        return value


Handler = Callable[[_Checker, Any, Fields], Any]


def validate_listing(raw: Any, limits: Limits = DEFAULT_LIMITS, fields: Fields = CORE_ONLY) -> dict[str, Any]:
    """Return a clean copy of `raw` with attribute aliases resolved, or raise ListingError.

    `fields` holds the attributes the pack declares; without it only the core contract is checked.

    Violations are listed in the order of the listing's fields, then missing required fields.
    """
    if type(raw) is not dict:
        raise ListingError([FieldViolation("", f"expected a JSON object, got {_type_name(raw)}")])
    check = _Checker(limits)
    listing: dict[str, Any] = {}
    for key, value in raw.items():
        handler = _HANDLERS.get(key)
        if handler is None:
            check.fail(clip(str(key)), "unknown field")
        elif value is not None:
            clean = handler(check, value, fields)
            if clean is not None:
                listing[key] = clean
    for key in _REQUIRED:
        if raw.get(key) is None:
            check.fail(
                key,
                "is required"
                if key != "ship_to"
                else "is required: the ISO 3166-1 alpha-2 codes of the destination countries",
            )
    if check.violations:
        raise ListingError(check.violations, too_large=check.too_large)
    return listing


def _text_field(name: str, *, required: bool = False) -> Handler:
    return lambda check, value, _: check.text(name, value, required=required)


def _id(check: _Checker, value: Any, _: Fields) -> str | None:
    return check.identifier("id", value, required=True)


def _gtin(check: _Checker, value: Any, _: Fields) -> str | None:
    gtin = check.text("gtin", value)
    if gtin is not None and not _GTIN.match(gtin):
        check.fail("gtin", "expected 8 to 14 digits")
        return None
    return gtin


def _listed_at(check: _Checker, value: Any, _: Fields) -> str | None:
    listed_at = check.text("listed_at", value)
    if listed_at is None:
        return None
    try:
        if not _RFC3339.fullmatch(listed_at):
            raise ValueError
        datetime.fromisoformat(listed_at.upper()[:19])  # a real day and time
    except ValueError:
        check.fail("listed_at", "expected an RFC 3339 date-time, e.g. 2025-11-20T09:12:00Z")
        return None
    return listed_at


def _price(check: _Checker, raw: Any, _: Fields) -> dict[str, Any] | None:
    price = check.obj("price", raw, _PRICE)
    if price is None:
        return None
    amount = check.number("price.amount", price.get("amount"))
    if amount is None and price.get("amount") is None:
        check.fail("price.amount", "is required")
    elif amount is not None and amount < 0:
        check.fail("price.amount", "must not be negative")
    currency = check.text("price.currency", price.get("currency"), required=True)
    if currency is not None and not _CURRENCY.match(currency):
        check.fail("price.currency", "expected an ISO 4217 code such as EUR")
    return {"amount": amount, "currency": currency}


def _seller(check: _Checker, raw: Any, _: Fields) -> dict[str, Any] | None:
    seller = check.obj("seller", raw, _SELLER)
    if seller is None:
        return None
    clean: dict[str, Any] = {}
    seller_id = check.identifier("seller.id", seller.get("id"))
    if seller_id is not None:
        clean["id"] = seller_id
    name = check.text("seller.name", seller.get("name"))
    if name is not None:
        clean["name"] = name
    country = check.country("seller.country", seller.get("country"))
    if country is not None:
        clean["country"] = country
    trader = check.obj("seller.trader", seller.get("trader"), _TRADER)
    if trader is not None:
        details: dict[str, Any] = {}
        for key in ("name", "address", "registration_number"):
            value = check.text(f"seller.trader.{key}", trader.get(key))
            if value is not None:
                details[key] = value
        certified = check.boolean("seller.trader.self_certified", trader.get("self_certified"))
        if certified is not None:
            details["self_certified"] = certified
        clean["trader"] = details
    return clean


def _attributes(check: _Checker, raw: Any, fields: Fields) -> dict[str, Any] | None:
    given = check.obj("attributes", raw, None)
    if given is None:
        return None
    if len(given) > check.limits.max_attributes:
        check.too_large = True
        check.fail("attributes", f"has {len(given)} entries; the limit is {check.limits.max_attributes}")
        return None
    attributes: dict[str, Any] = {}
    for key, value in given.items():
        name = fields.aliases.get(key, key)
        if name in attributes and name != key:
            continue  # the declared name, when also given, wins over an alias
        declared = fields.attributes.get(name)
        if declared is not None and name != key and value is not None:
            # A marketplace's own name may mean something else there ("voltage": "230 V" is no
            # stun device's kV): a value that does not fit is kept under that name and ignored.
            clean = _attribute(_Checker(check.limits), f"attributes.{key}", declared, value)
            if clean is not None:
                attributes[name] = clean
                continue
            declared = None
        if declared is None:
            if not _finite(value):  # JSON has no infinity; the verdict log could not store it
                check.fail(f"attributes.{clip(key)}", "holds a number that is not finite")
                continue
            attributes[key] = value  # kept, ignored by policies
        elif value is not None:
            clean = _attribute(check, f"attributes.{key}", declared, value)
            if clean is not None:
                attributes[name] = clean
    return attributes


def _finite(value: Any) -> bool:
    """No NaN or infinity anywhere in a JSON-like value (a gRPC Struct can carry them); walked
    without recursion, however deep the value."""
    pending = [value]
    while pending:
        item = pending.pop()
        if type(item) is float and not math.isfinite(item):
            return False
        if isinstance(item, dict):
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return True


def _attribute(check: _Checker, field: str, declared: Attribute, value: Any) -> Any:
    kind = declared.kind
    if kind is Kind.NUMBER:
        return check.number(field, value)
    if kind is Kind.BOOL:
        return check.boolean(field, value)
    if kind is Kind.STRINGS:
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            check.fail(field, f"expected a list of strings, got {_type_name(value)}")
            return None
        if not all(_is_unicode(item) for item in value):
            check.fail(field, "is not valid Unicode: it holds a lone surrogate code point")
            return None
        if len(value) > check.limits.max_list_items:
            check.too_large = True
            check.fail(field, f"has {len(value)} items; the limit is {check.limits.max_list_items}")
            return None
        return list(value)
    if declared.values:
        return _one_of(check, field, declared.values, value)
    return check.text(field, value)


def _one_of(check: _Checker, field: str, values: tuple[str, ...], value: Any) -> str | None:
    """A text attribute with declared values, in their spelling (a whole number is read as text:
    laser class 4 is "4")."""
    text = str(value).upper() if isinstance(value, int | str) and not isinstance(value, bool) else None
    found = next((allowed for allowed in values if allowed.upper() == text), None)
    if found is None:
        check.fail(field, f"expected one of {', '.join(values)}")
    return found


def _ship_to(check: _Checker, raw: Any, _: Fields) -> list[str] | None:
    if type(raw) is not list or not raw:
        check.fail("ship_to", "expected a non-empty list of country codes")
        return None
    if len(raw) > check.limits.max_ship_to:
        check.too_large = True
        check.fail("ship_to", f"has {len(raw)} countries; the limit is {check.limits.max_ship_to}")
        return None
    codes: list[str] = []
    for index, item in enumerate(raw):
        code = check.country(f"ship_to[{index}]", item)
        if code is not None and code not in codes:
            codes.append(code)
    return codes


#: How each field of engine.fields.LISTING is checked (a test holds the two together).
_HANDLERS: dict[str, Handler] = {
    "id": _id,
    "title": _text_field("title", required=True),
    "description": _text_field("description"),
    "category": _text_field("category"),
    "brand": _text_field("brand"),
    "marketplace": _text_field("marketplace"),
    "gtin": _gtin,
    "price": _price,
    "seller": _seller,
    "attributes": _attributes,
    "ship_to": _ship_to,
    "listed_at": _listed_at,
}


def _is_unicode(text: str) -> bool:
    """False when `text` holds a lone surrogate (half of a UTF-16 pair): no UTF-8 encodes it,
    and the text matchers refuse it. Encoding is the quickest test in CPython."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, str):
        return f"a string ({quote(value, 20)})"
    return {bool: "a boolean", int: "a number", float: "a number", list: "a list", dict: "an object"}.get(
        type(value), type(value).__name__
    )
