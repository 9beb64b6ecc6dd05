"""Properties of hostile input, searched by hypothesis: a listing's result never depends on
its neighbours, and no JSON value in any field makes evaluation raise."""

from __future__ import annotations

import copy
from datetime import date
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tamis.engine import Evaluator, ListingError, Verdict
from tamis.service.verdictforms import verdict_to_json
from tamis.service.verdictlog.records import canonical_json
from tests.conftest import samples

DAY = date(2025, 11, 20)
FIELDS = (
    "id",
    "title",
    "description",
    "category",
    "brand",
    "gtin",
    "marketplace",
    "price",
    "seller",
    "attributes",
    "ship_to",
    "listed_at",
    "unknown",
)
NUMERIC = (
    "height_cm",
    "laser_power_mw",
    "nicotine_mg_ml",
    "volume_ml",
    "blade_length_cm",
    "age_min",
    "weight_kg",
)

#: Magnitudes the C core or orjson once mishandled, and their neighbours.
EDGE_NUMBERS = [1e-7, -1e-7, 1e16, 1e15, 1e-300, 5e-324, 1e308, -0.0, 0.0, 2**53 + 1, 2**63, 2**64, 10**400]

numbers = st.one_of(
    st.sampled_from(EDGE_NUMBERS),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(),
    st.integers(min_value=-(10**30), max_value=10**30),
)
number_words = st.builds(
    lambda whole, fraction, unit: f" {whole}{fraction} {unit}",
    st.sampled_from(["0", "1", "99999999999999999999", "0000000", "5", "1" * 40]),
    st.sampled_from(["", ",0000001", ".5", ",", "e16", "e-7"]),
    st.sampled_from(["mW", "mw", "W", "mg/ml", "mg", "ml", "cm", "%", "J"]),
)
json_values = st.recursive(
    st.none() | st.booleans() | numbers | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=8,
)


@st.composite
def hostile_listings(draw: st.DrawFn) -> dict[str, Any]:
    """A sample listing with hostile numbers stated, written in its text, or odd JSON."""
    listing = copy.deepcopy(draw(st.sampled_from(samples())))
    listing["id"] = draw(st.text(min_size=1, max_size=8))
    attributes = listing.setdefault("attributes", {}) or {}
    listing["attributes"] = attributes
    for name in draw(st.lists(st.sampled_from(NUMERIC), max_size=3)):
        attributes[name] = draw(numbers)
    if draw(st.booleans()):
        listing["title"] += draw(number_words)
    if draw(st.booleans()):
        # declared names, marketplace aliases of a text and a number attribute, an unknown name
        names = ["contains", "material", "type", "voltage", "fingers", "odd"]
        attributes[draw(st.sampled_from(names))] = draw(json_values)
    return listing


def outcome(result: Verdict | ListingError) -> Any:
    return str(result) if isinstance(result, ListingError) else result


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(hostile_listings(), min_size=2, max_size=6))
def test_a_batch_judges_each_listing_as_if_it_were_alone(
    shipped: Evaluator, listings: list[dict[str, Any]]
) -> None:
    together = shipped.evaluate_many(listings, DAY)
    alone = [shipped.evaluate_many([listing], DAY)[0] for listing in listings]
    assert [outcome(result) for result in together] == [outcome(result) for result in alone]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(samples()), st.sampled_from(FIELDS), json_values, st.booleans())
def test_any_json_value_in_any_field_gives_a_verdict_or_a_contract_error(
    shipped: Evaluator, sample: dict[str, Any], field: str, value: Any, in_attributes: bool
) -> None:
    listing = copy.deepcopy(sample)
    if in_attributes:
        listing["attributes"] = {**(listing.get("attributes") or {}), field: value}
    else:
        listing[field] = value
    for candidate in (listing, value):
        (result,) = shipped.evaluate_many([candidate], DAY)
        assert isinstance(result, Verdict | ListingError)
        if isinstance(result, Verdict):
            canonical_json(result.request)  # what the verdict log would store
            canonical_json(verdict_to_json(result))
