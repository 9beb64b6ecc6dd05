"""Heights written as sellers write them ("100cm", "1m20", "1.25 m", "4ft", 4'11", "48 inches") are
read into height_cm by the shipped pack's patterns, and the engine adds the minor unit."""

from __future__ import annotations

import pytest

from tamis.engine import Bundle
from tamis.engine.textscan import TextScanner


@pytest.fixture(scope="module")
def scanner(shipped_bundle: Bundle) -> TextScanner:
    specs = shipped_bundle.policy_set.attributes.from_text
    return TextScanner([], [], [], {}, {"height_cm": specs["height_cm"]})


@pytest.mark.parametrize(
    ("title", "height"),
    [
        ("Mini doll 100cm TPE", 100),
        ("Petite love doll 1m20 young face", 120),
        ("Real doll 1.25 m TPE", 125),
        ("Poupée 1,20 mètre", 120),
        ("Doll 0.9m", 90),
        ("TPE doll 4ft petite", 121.92),
        ("Love doll 4 ft 8 in", 142.24),
        ("Love doll 4'11\"", 149.86),
        ("Doll 48 inches tall", 121.92),
        ("Sex doll 158 cm, 1.58 m", 158),
        ("Muñeca 110 centímetros", 110),
    ],
)
def test_heights_are_read_in_centimetres(scanner: TextScanner, title: str, height: float) -> None:
    value = scanner.infer("height_cm", scanner.scan({"title": title}))
    assert value == pytest.approx(height)


@pytest.mark.parametrize("title", ["Cable 150 m", "2 in 1 doll set", "Size 10m", "Doll, 3 holes"])
def test_other_numbers_are_not_heights(scanner: TextScanner, title: str) -> None:
    assert scanner.infer("height_cm", scanner.scan({"title": title})) is None
