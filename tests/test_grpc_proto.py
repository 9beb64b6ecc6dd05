"""The tamis.v1 API definition: lint-clean, generated code in step, JSON equal to the contract."""

from __future__ import annotations

import filecmp
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format

from tamis.service.server.convert import listing_from_proto
from tamis.v1 import listing_pb2
from tests.conftest import ROOT, samples

PROTO = ROOT / "proto"
BUF = Path(sys.executable).parent / "buf"


def test_buf_lint_is_clean() -> None:
    """`buf lint` (STANDARD and COMMENTS: every element documented) finds nothing."""
    result = subprocess.run([str(BUF), "lint"], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_generated_code_matches_the_protos(tmp_path: Path) -> None:
    """Regenerating (`make proto`) into a temporary directory gives the committed files."""
    subprocess.run(
        [sys.executable, str(PROTO / "generate.py"), "--out", str(tmp_path)], check=True, capture_output=True
    )
    fresh = sorted(path.name for path in (tmp_path / "tamis" / "v1").iterdir())
    committed = sorted(path.name for path in (PROTO / "tamis" / "v1").glob("*_pb2*"))
    assert fresh == committed
    _, mismatch, errors = filecmp.cmpfiles(
        tmp_path / "tamis" / "v1", PROTO / "tamis" / "v1", fresh, shallow=False
    )
    assert (mismatch, errors) == ([], []), "run `make proto` and commit the result"


@pytest.mark.parametrize("listing", samples(), ids=lambda listing: str(listing["id"]))
def test_listing_json_is_the_contract(listing: dict[str, Any]) -> None:
    """A contract listing parses as a Listing and prints back as the same JSON object."""
    message = json_format.ParseDict(listing, listing_pb2.Listing())
    assert json_format.MessageToDict(message) == listing


@pytest.mark.parametrize("listing", samples(), ids=lambda listing: str(listing["id"]))
def test_listing_reaches_the_engine_unchanged(listing: dict[str, Any]) -> None:
    """The hand-written conversion gives the engine exactly the contract's object."""
    assert listing_from_proto(json_format.ParseDict(listing, listing_pb2.Listing())) == listing


def test_attribute_values_convert_as_json_would() -> None:
    """Integral numbers become ints, others stay floats; nulls, lists and objects survive."""
    attributes = {
        "age_min": 18,
        "volume_ml": 10.5,
        "laser_class": 2,
        "contains": ["a"],
        "x": None,
        "y": {"z": True},
    }
    message = json_format.ParseDict({"id": "a", "attributes": attributes}, listing_pb2.Listing())
    converted = listing_from_proto(message)["attributes"]
    assert converted == attributes
    assert isinstance(converted["age_min"], int)
    assert isinstance(converted["volume_ml"], float)


def test_empty_strings_and_unset_fields_are_absent() -> None:
    """Proto3 cannot tell "" from unset: both are absent for the engine (so a missing title is reported)."""
    message = listing_pb2.Listing(id="a", title="", ship_to=["FR"])
    message.price.currency = "EUR"
    message.seller.trader.self_certified = False
    assert listing_from_proto(message) == {
        "id": "a",
        "ship_to": ["FR"],
        "price": {"currency": "EUR"},
        "seller": {"trader": {"self_certified": False}},
    }
