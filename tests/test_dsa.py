"""Blocking verdicts as DSA statements of reasons for the EU Transparency Database."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from engine import Evaluator, PolicySetError, load_bundle
from engine.dsa import CATEGORIES, KEYWORDS, statement_of_reasons
from tests.conftest import PackFiles, base_pack, policy
from tests.test_cli import tamis

Write = Callable[[PackFiles], Path]
DAY = date(2025, 6, 1)
TAGS = [
    "dsa-category:STATEMENT_CATEGORY_PROTECTION_OF_MINORS",
    "dsa-keyword:KEYWORD_CHILD_SEXUAL_ABUSE_MATERIAL",
]


def statement(write_pack: Write, listing: dict[str, Any], *policies: dict[str, Any]) -> dict[str, Any] | None:
    evaluator = Evaluator(load_bundle(write_pack(base_pack(*policies))))
    return statement_of_reasons(evaluator.evaluate(listing, DAY), listing, evaluator.bundle)


def test_a_block_becomes_a_statement(write_pack: Write) -> None:
    """Grounds, facts, scope and automation are filled in from the verdict and the policy's tags."""
    listing = {
        "id": "l-1",
        "title": "a widget",
        "ship_to": ["FR"],
        "gtin": "4006381333931",
        "listed_at": "2025-05-30T10:00:00Z",
        "seller": {"name": "Jane Doe"},
    }
    found = statement(write_pack, listing, policy(tags=TAGS))
    assert found is not None
    assert found["decision_ground"] == "DECISION_GROUND_ILLEGAL_CONTENT"
    assert found["illegal_content_legal_ground"] == "Code de test (FR) art. 1"
    assert found["category"] == "STATEMENT_CATEGORY_PROTECTION_OF_MINORS"
    assert found["category_specification"] == ["KEYWORD_CHILD_SEXUAL_ABUSE_MATERIAL"]
    assert found["territorial_scope"] == ["FR"]
    assert found["decision_visibility"] == ["DECISION_VISIBILITY_CONTENT_REMOVED"]
    assert (found["content_date"], found["application_date"]) == ("2025-05-30", "2025-06-01")
    assert found["content_id"] == {"EAN-13": "4006381333931"}
    assert found["puid"] == "l-1"
    assert "Jane Doe" not in json.dumps(found)  # no personal data
    assert "title 'widget'" in found["illegal_content_explanation"]


def test_partial_block_disables_where_illegal(write_pack: Write) -> None:
    """Blocked in France only, the listing is disabled there rather than removed everywhere."""
    listing = {"id": "l 2/ü", "title": "a widget", "ship_to": ["FR", "US"]}
    found = statement(write_pack, listing, policy())
    assert found is not None
    assert found["decision_visibility"] == ["DECISION_VISIBILITY_CONTENT_DISABLED"]
    assert found["category"] == "STATEMENT_CATEGORY_UNSAFE_AND_PROHIBITED_PRODUCTS"
    assert found["puid"].startswith("tamis-")  # the database only takes [a-zA-Z0-9-_]


def test_flags_and_allows_are_not_restrictions(write_pack: Write) -> None:
    """A flag waits for a person; an allow restricts nothing: no statement."""
    listing = {"id": "l", "title": "a widget", "ship_to": ["FR"]}
    assert statement(write_pack, listing, policy(decision="flag")) is None
    assert statement(write_pack, {**listing, "title": "a lamp"}, policy()) is None


def test_unknown_dsa_tags_are_refused(write_pack: Write) -> None:
    """Namespaced tags must name a category or keyword the database knows."""
    with pytest.raises(PolicySetError, match="unknown DSA statement category 'STATEMENT_CATEGORY_NOPE'"):
        load_bundle(write_pack(base_pack(policy(tags=["dsa-category:STATEMENT_CATEGORY_NOPE"]))))
    assert len(CATEGORIES) == 16 and len(KEYWORDS) == 69


def test_cli_writes_statements_for_blocked_listings(write_pack: Write, tmp_path: Path) -> None:
    """`tamis eval --statements` writes one statement per blocked listing, with its input line."""
    source = tmp_path / "in.jsonl"
    source.write_text(
        "\n".join(
            json.dumps({"id": name, "title": title, "ship_to": ["FR"]})
            for name, title in (("a", "lamp"), ("b", "widget"))
        )
        + "\n"
    )
    result = tamis(
        "eval",
        "--input",
        str(source),
        "--statements",
        "--as-of",
        "2025-06-01",
        "--policies",
        str(write_pack(base_pack(policy()))),
    )
    [line] = [json.loads(text) for text in result.stdout.splitlines()]
    assert (line["listing_id"], line["line"]) == ("b", 2) and line["statement"]["puid"] == "b"
