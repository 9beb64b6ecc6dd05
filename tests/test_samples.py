"""The shared sample listings get the verdicts the law calls for under the bundled pack."""

from __future__ import annotations

from datetime import date

import pytest

from tamis.engine import Evaluator
from tests.conftest import ROOT, SHARED, samples

AS_OF = date(2025, 11, 20)

EXPECTED = {
    "s-001": ("block", "fr.penal.227-23.childlike-sex-doll"),
    "s-002": ("allow", None),
    "s-003": ("block", "fr.csi.r311-2.a1-14.brass-knuckles"),
    "s-006": ("block", "eu.tpd.20-3.eliquid-nicotine"),
    "s-009": ("block", "eu.tpd.17.snus"),
    "s-010": ("block", "fr.cpce.l33-3-1.jammer"),
    "s-011": ("block", "eu.cosmetics.annex-ii.mercury"),
}


@pytest.mark.parametrize("listing_id", sorted(EXPECTED))
def test_sample_verdict(shipped: Evaluator, listing_id: str) -> None:
    """Each sample's decision and the policy behind it."""
    listing = next(item for item in samples() if item["id"] == listing_id)
    verdict = shipped.evaluate(listing, AS_OF)
    decision, policy_id = EXPECTED[listing_id]
    assert verdict.decision.value == decision
    if policy_id:
        assert policy_id in {match.policy for match in verdict.matches}


def test_snus_is_lawful_in_sweden_only(shipped: Evaluator) -> None:
    """The same snus listing: no snus match shipped to Sweden, a block shipped to France."""
    by_id = {item["id"]: item for item in samples()}
    sweden = shipped.evaluate(by_id["s-008"], AS_OF)
    france = shipped.evaluate(by_id["s-009"], AS_OF)
    assert "eu.tpd.17.snus" not in {m.policy for m in sweden.matches}
    assert "eu.tpd.17.snus" in {m.policy for m in france.matches}


@pytest.mark.parametrize(
    ("copy", "original"),
    [
        ("tests/data/samples.jsonl", "samples/listings.jsonl"),
        ("policies/legal/REFERENCES.md", "legal/REFERENCES.md"),
        ("policies/legal/CORRECTIONS.md", "legal/CORRECTIONS.md"),
    ],
)
def test_copies_of_shared_files_are_current(copy: str, original: str) -> None:
    """The repository's copies of the shared samples and legal references equal the originals,
    where the shared folder is checked out next to the repository (CI clones stand alone)."""
    source = SHARED / original
    if not source.is_file():
        pytest.skip(f"{source} is not checked out next to the repository")
    assert (ROOT / copy).read_bytes() == source.read_bytes(), f"{copy} is stale: copy {source} again"
