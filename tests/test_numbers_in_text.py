"""Numbers read from a listing's text as the sellers write them (red team R06): thousands grouped
by spaces or by one comma or point ("1,000 mW"), units spelled out, and an exponent's digits that
are not a number of their own."""

from __future__ import annotations

import pytest

from tamis.engine import Evaluator


def read(shipped: Evaluator, title: str, attribute: str = "laser_power_mw") -> float | None:
    scanner = shipped.bundle.scanner
    return scanner.infer(attribute, scanner.scan({"id": "n", "title": title, "ship_to": ["FR"]}))


@pytest.mark.parametrize(
    ("written", "milliwatts"),
    [
        ("5000 mW", 5000),
        ("5 000 mW", 5000),
        ("5\u00a0000 mW", 5000),
        ("5\u202f000 mW", 5000),
        ("10 000 mW", 10000),
        ("1 000 000 mW", 1_000_000),
        ("2 500,5 mW", 2500.5),
        ("5 watts", 5000),
        ("0,5 watt", 500),
        ("5 milliwatts", 5),
        ("1 milliwatt", 1),
        ("3W", 3000),
        ("1e-7 mW", None),
        ("1.0e-07 mW", None),
        ("2e-3 W", None),
        ("1E+3 mW", None),
        ("0,0000001 mW", 1e-7),
        ("1,000 mW", 1000),
        ("2.500 mW", 2500),
        ("1,000,000 mW", 1_000_000),
        ("1.000.000 mW", 1_000_000),
        ("1,500.5 mW", 1500.5),
        ("2.500,5 mW", 2500.5),
        ("1,000,000 W", 1e9),
        ("1,5 mW", 1.5),
        ("4.99 mW", 4.99),
        ("0,500 W", 500),
    ],
)
def test_laser_power_is_read_as_written(shipped: Evaluator, written: str, milliwatts: float | None) -> None:
    assert read(shipped, f"Pointeur laser vert {written}") == milliwatts


@pytest.mark.parametrize(
    ("written", "attribute", "value"),
    [
        ("e-liquide 1e-3 mg/ml", "nicotine_mg_ml", None),
        ("e-liquide 20 mg/ml", "nicotine_mg_ml", 20),
        ("flacon 5e+2 ml", "volume_ml", None),
        ("flacon 500 ml", "volume_ml", 500),
    ],
)
def test_an_exponent_is_not_a_number_for_other_attributes_either(
    shipped: Evaluator, written: str, attribute: str, value: float | None
) -> None:
    assert read(shipped, written, attribute) == value
