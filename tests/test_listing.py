"""The listing contract: a clean copy of a valid listing, precise violations for a bad one."""

from __future__ import annotations

import math
from typing import Any

import pytest

from tamis.engine.errors import ListingError
from tamis.engine.fields import Attribute, Fields, Kind
from tamis.engine.listing import Limits, validate_listing

#: Attributes as a pack would declare them (policies/attributes.yaml).
DECLARED = Fields(
    {
        "height_cm": Attribute(Kind.NUMBER),
        "ce_marking": Attribute(Kind.BOOL),
        "contains": Attribute(Kind.STRINGS),
        "laser_class": Attribute(Kind.STRING, ("1", "1M", "2", "2M", "3R", "3B", "4")),
    },
    {"hauteur": "height_cm"},
)


def listing(**fields: Any) -> dict[str, Any]:
    return {"id": "l1", "title": "Widget", "ship_to": ["FR"], **fields}


def violations(raw: Any, **options: Any) -> list[str]:
    with pytest.raises(ListingError) as raised:
        validate_listing(raw, **options)
    return [str(v) for v in raised.value.violations]


def test_valid_listing_is_copied_clean() -> None:
    """Optional fields pass through; country codes are upper-cased and de-duplicated."""
    clean = validate_listing(listing(ship_to=["fr", "DE", "FR"], price={"amount": 10, "currency": "EUR"}))
    assert clean["ship_to"] == ["FR", "DE"]
    assert clean["price"] == {"amount": 10, "currency": "EUR"}


def test_every_violation_is_reported() -> None:
    """All problems come back at once, each with its field path, missing fields last."""
    found = violations({"title": 3, "ship_to": [], "colour": "red"})
    assert found == [
        "title: expected a string, got a number",
        "ship_to: expected a non-empty list of country codes",
        "colour: unknown field",
        "id: is required",
    ]


def test_wrong_attribute_types() -> None:
    """Declared attributes have types; undeclared attributes are kept and ignored."""
    found = violations(
        listing(attributes={"height_cm": "100cm", "ce_marking": "yes", "contains": "lead"}), fields=DECLARED
    )
    assert "attributes.height_cm: expected a number, got a string ('100cm')" in found
    assert "attributes.ce_marking: expected true or false, got a string ('yes')" in found
    assert "attributes.contains: expected a list of strings, got a string ('lead')" in found
    kept = validate_listing(listing(attributes={"colour_code": {"any": "thing"}}), fields=DECLARED)
    assert kept["attributes"] == {"colour_code": {"any": "thing"}}


def test_without_declarations_only_the_core_is_checked() -> None:
    """Judged without a pack, a listing's attributes are kept as given."""
    assert validate_listing(listing(attributes={"height_cm": "tall"}))["attributes"] == {"height_cm": "tall"}


def test_aliases_become_declared_names() -> None:
    """A marketplace's attribute name is read as the declared attribute, typed as such; a value
    that does not fit is that marketplace's own meaning, kept under its name and ignored."""
    clean = validate_listing(listing(attributes={"hauteur": 95}), fields=DECLARED)
    assert clean["attributes"] == {"height_cm": 95}
    clean = validate_listing(listing(attributes={"hauteur": "tall"}), fields=DECLARED)
    assert clean["attributes"] == {"hauteur": "tall"}
    assert violations(listing(attributes={"height_cm": "tall"}), fields=DECLARED) == [
        "attributes.height_cm: expected a number, got a string ('tall')"
    ]


def test_laser_class_is_a_known_class() -> None:
    """A text attribute with declared values (laser classes) takes only those, in their spelling;
    a bare number is accepted for its class."""
    assert (
        validate_listing(listing(attributes={"laser_class": 4}), fields=DECLARED)["attributes"]["laser_class"]
        == "4"
    )
    assert (
        validate_listing(listing(attributes={"laser_class": "3r"}), fields=DECLARED)["attributes"][
            "laser_class"
        ]
        == "3R"
    )
    assert violations(listing(attributes={"laser_class": "5"}), fields=DECLARED) == [
        "attributes.laser_class: expected one of 1, 1M, 2, 2M, 3R, 3B, 4"
    ]


def test_nested_objects_are_checked() -> None:
    """Seller, trader and price refuse unknown keys and wrong types."""
    found = violations(
        listing(seller={"country": "XX", "trader": {"self_certified": "yes", "vat": 1}}, price={"amount": -1})
    )
    assert "seller.country: 'XX' is not an ISO 3166-1 alpha-2 country code" in found
    assert (
        "seller.trader.vat: unknown field; expected one of address, name, registration_number, self_certified"
        in found
    )
    assert "seller.trader.self_certified: expected true or false, got a string ('yes')" in found
    assert "price.amount: must not be negative" in found
    assert "price.currency: is required" in found


def test_oversized_listing_is_marked_too_large() -> None:
    """Text beyond the limit is refused (not truncated) and flagged as too large."""
    with pytest.raises(ListingError) as raised:
        validate_listing(listing(description="x" * 101), Limits(max_text_chars=100))
    assert raised.value.too_large
    assert str(raised.value) == "description: is 101 characters long; the limit is 100"


def test_not_an_object() -> None:
    """A JSON array or string is not a listing."""
    assert violations(["a"]) == [": expected a JSON object, got a list"]


@pytest.mark.parametrize(
    "written",
    [
        "2025-11-20",
        "20251120T091200Z",
        "2025-11-20T09:12:00",
        "2025-W47-4T09:12:00Z",
        "2025-02-30T09:12:00Z",
        "2025-11-20T25:00:00Z",
        "2025-11-20T09:12:00+0100",
        "٢٠٢٥-١١-٢٠T09:12:00Z",
        "2025-11-20T09:12:00Z\n",
    ],
)
def test_listed_at_is_rfc_3339_only(written: str) -> None:
    """What Python's ISO parser also takes (a bare date, basic or week forms, no offset) is refused:
    the DSA statement's content date is the first ten characters."""
    assert violations(listing(listed_at=written)) == [
        "listed_at: expected an RFC 3339 date-time, e.g. 2025-11-20T09:12:00Z"
    ]


@pytest.mark.parametrize(
    "written", ["2025-11-20T09:12:00Z", "2025-11-20t09:12:00.123456789z", "2025-11-20 09:12:00+05:30"]
)
def test_rfc_3339_date_times_are_taken(written: str) -> None:
    assert validate_listing(listing(listed_at=written))["listed_at"] == written


def test_bad_gtin_and_date() -> None:
    """GTINs are 8 to 14 digits; listed_at is RFC 3339."""
    found = violations(listing(gtin="12ab", listed_at="yesterday"))
    assert found == [
        "gtin: expected 8 to 14 digits",
        "listed_at: expected an RFC 3339 date-time, e.g. 2025-11-20T09:12:00Z",
    ]


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan, [1, {"deep": math.inf}]])
def test_an_unknown_attribute_holds_finite_numbers_only(value: Any) -> None:
    """Unknown attributes are kept for the verdict log, which is JSON: infinity cannot be stored
    (found by the hostile property test: the log refused the request after the verdict)."""
    assert violations(listing(attributes={"free": value})) == [
        "attributes.free: holds a number that is not finite"
    ]


def test_a_deep_unknown_attribute_is_walked_without_recursion() -> None:
    deep: Any = math.inf
    for _ in range(5000):
        deep = [deep]
    assert violations(listing(attributes={"free": deep})) == [
        "attributes.free: holds a number that is not finite"
    ]
