"""Blocking verdicts as DSA statements of reasons for the EU Transparency Database."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from tamis.engine import Evaluator, PolicySetError, load_bundle
from tamis.engine.dsa import GRAVITY, statements_of_reasons
from tamis.engine.dsatags import CATEGORIES, KEYWORDS
from tests.conftest import INSTRUMENT, PackFiles, base_pack, policy
from tests.test_cli import tamis

Write = Callable[[PackFiles], Path]
DAY = date(2025, 6, 1)
DECIDED = date(2025, 6, 3)
TAGS = [
    "dsa-category:STATEMENT_CATEGORY_PROTECTION_OF_MINORS",
    "dsa-keyword:KEYWORD_CHILD_SEXUAL_ABUSE_MATERIAL",
]
EU_CODE = {
    "instrument": "celex:32099R0001",
    "title": "Regulation of test",
    "jurisdiction": "EU",
    "url": "https://example.org/eu",
    "articles": {"5": {"title": "Article five", "url": "https://example.org/eu/art-5"}},
}


def statements(
    write_pack: Write, listing: dict[str, Any], *policies: dict[str, Any], **extra: Any
) -> list[dict[str, Any]]:
    evaluator = Evaluator(load_bundle(write_pack(base_pack(*policies, **extra))))
    verdict = evaluator.evaluate(listing, DAY)
    return statements_of_reasons(verdict, listing, evaluator.bundle, decided_on=DECIDED)


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
    [found] = statements(write_pack, listing, policy(tags=TAGS))
    assert found["decision_ground"] == "DECISION_GROUND_ILLEGAL_CONTENT"
    assert found["illegal_content_legal_ground"] == "Code de test (FR) art. 1"
    assert found["category"] == "STATEMENT_CATEGORY_PROTECTION_OF_MINORS"
    assert found["category_specification"] == ["KEYWORD_CHILD_SEXUAL_ABUSE_MATERIAL"]
    assert found["territorial_scope"] == ["FR"]
    assert found["decision_visibility"] == ["DECISION_VISIBILITY_CONTENT_REMOVED"]
    assert found["content_id"] == {"EAN-13": "4006381333931"}
    assert found["puid"].startswith("l-1-") and found["puid"].endswith("-FR")
    assert "Jane Doe" not in json.dumps(found)  # no personal data
    assert "title 'widget'" in found["illegal_content_explanation"]


def test_decision_day_law_day_and_content_day_are_apart(write_pack: Write) -> None:
    """application_date is the day the decision applies, not the day whose law was applied (that
    one is in the facts); content_date is the listing's own date, and absent when it has none."""
    listing = {"id": "l-1", "title": "a widget", "ship_to": ["FR"], "listed_at": "2025-05-30T10:00:00Z"}
    [dated] = statements(write_pack, listing, policy())
    assert (dated["application_date"], dated["content_date"]) == ("2025-06-03", "2025-05-30")
    assert "law in force on 2025-06-01" in dated["decision_facts"]
    [undated] = statements(write_pack, {**listing, "listed_at": None}, policy())
    assert "content_date" not in undated


def test_puid_is_unique_per_decision_and_stable_for_the_same_one(write_pack: Write) -> None:
    """Two decisions on one listing (another day, another law) get two puids: the database refuses
    a puid it has seen; the same decision replayed keeps its puid."""
    evaluator = Evaluator(load_bundle(write_pack(base_pack(policy()))))
    listing = {"id": "l-1", "title": "a widget", "ship_to": ["FR"]}
    verdict = evaluator.evaluate(listing, DAY)

    def puid(day: date, decision: str | None = None) -> str:
        [found] = statements_of_reasons(verdict, listing, evaluator.bundle, decided_on=day, decision=decision)
        return str(found["puid"])

    assert puid(DECIDED) == puid(DECIDED)
    assert puid(DECIDED) != puid(date(2025, 7, 1))
    assert puid(DECIDED, "v-42") == "l-1-v-42-FR"


def test_partial_block_disables_where_illegal(write_pack: Write) -> None:
    """Blocked in France only, the listing is disabled there rather than removed everywhere."""
    listing = {"id": "l 2/ü", "title": "a widget", "ship_to": ["FR", "US"]}
    [found] = statements(write_pack, listing, policy())
    assert found["decision_visibility"] == ["DECISION_VISIBILITY_CONTENT_DISABLED"]
    assert found["category"] == "STATEMENT_CATEGORY_UNSAFE_AND_PROHIBITED_PRODUCTS"
    assert found["puid"].startswith("tamis-")  # the database only takes [a-zA-Z0-9-_]


def test_category_and_reference_come_from_the_gravest_ground(write_pack: Write) -> None:
    """The CP 227-23 ground leads the statement even when its policy id sorts last."""
    minor = policy("z.minors", tags=TAGS, grounds=[{"instrument": INSTRUMENT["instrument"], "article": "2"}])
    product = policy("a.product", tags=["dsa-category:STATEMENT_CATEGORY_CONSUMER_INFORMATION"])
    [found] = statements(write_pack, {"id": "l", "title": "a widget", "ship_to": ["FR"]}, product, minor)
    assert found["category"] == "STATEMENT_CATEGORY_PROTECTION_OF_MINORS"
    assert found["category_addition"] == ["STATEMENT_CATEGORY_CONSUMER_INFORMATION"]
    assert found["decision_ground_reference_url"] == "https://example.org/v-new"  # the article version
    assert found["illegal_content_legal_ground"].startswith("Code de test (FR) art. 2")


def test_one_statement_per_jurisdiction_of_grounds(write_pack: Write) -> None:
    """A French ground and a Union ground make two statements, each with its own territorial scope."""
    french = policy("fr.rule")
    union = policy(
        "eu.rule", applies_in=["EU"], grounds=[{"instrument": EU_CODE["instrument"], "article": "5"}]
    )
    listing = {"id": "l", "title": "a widget", "ship_to": ["FR", "DE"]}
    found = statements(write_pack, listing, french, union, **{"legal/eu.yaml": EU_CODE})
    by_scope = {tuple(item["territorial_scope"]): item for item in found}
    assert set(by_scope) == {("FR",), ("DE", "FR")}
    assert by_scope["FR",]["illegal_content_legal_ground"] == "Code de test (FR) art. 1"
    assert by_scope["DE", "FR"]["decision_ground_reference_url"] == "https://example.org/eu/art-5"
    assert len({item["puid"] for item in found}) == 2


def test_an_overseas_department_is_france_in_the_statement(write_pack: Write) -> None:
    """Shipped to Réunion and Saint-Martin: French law applies in Réunion and Union law in both; the
    database knows them as France."""
    french = policy("fr.rule")
    union = policy(
        "eu.rule", applies_in=["EU"], grounds=[{"instrument": EU_CODE["instrument"], "article": "5"}]
    )
    listing = {"id": "l", "title": "a widget", "ship_to": ["RE", "MF"]}
    found = statements(write_pack, listing, french, union, **{"legal/eu.yaml": EU_CODE})
    by_ground = {item["illegal_content_legal_ground"].split(" (")[0]: item for item in found}
    french_statement, union_statement = by_ground["Code de test"], by_ground["Regulation of test"]
    assert french_statement["territorial_scope"] == union_statement["territorial_scope"] == ["FR"]
    assert "fr.rule (RE)" in french_statement["decision_facts"]
    assert "eu.rule (RE, MF)" in union_statement["decision_facts"]
    # French law is not applied to Saint-Martin here: there the listing is disabled, not removed.
    assert french_statement["decision_visibility"] == ["DECISION_VISIBILITY_CONTENT_DISABLED"]
    assert union_statement["decision_visibility"] == ["DECISION_VISIBILITY_CONTENT_REMOVED"]


def test_flags_and_allows_are_not_restrictions(write_pack: Write) -> None:
    """A flag waits for a person; an allow restricts nothing: no statement."""
    listing = {"id": "l", "title": "a widget", "ship_to": ["FR"]}
    assert statements(write_pack, listing, policy(decision="flag")) == []
    assert statements(write_pack, {**listing, "title": "a lamp"}, policy()) == []


def test_unknown_dsa_tags_are_refused(write_pack: Write) -> None:
    """Namespaced tags must name a category or keyword the database knows."""
    with pytest.raises(PolicySetError, match="unknown DSA statement category 'STATEMENT_CATEGORY_NOPE'"):
        load_bundle(write_pack(base_pack(policy(tags=["dsa-category:STATEMENT_CATEGORY_NOPE"]))))
    assert len(CATEGORIES) == 16 and len(KEYWORDS) == 69
    assert sorted(GRAVITY) == sorted(CATEGORIES)  # every category has a rank


def test_shipped_child_like_doll_statement_is_csam_under_227_23(shipped: Evaluator) -> None:
    """The seed case: a statement under CP 227-23 al. 2 and 3, CSAM keyword, article-level URL,
    France only (the Union marketplace duties only flag)."""
    listing = {
        "id": "seed-1",
        "title": "Loli doll TPE 100 cm",
        "ship_to": ["FR", "DE"],
        "seller": {"id": "s", "name": "Shop", "country": "CN"},
    }
    verdict = shipped.evaluate(listing, date(2026, 1, 15))
    [found] = statements_of_reasons(verdict, listing, shipped.bundle, decided_on=date(2026, 1, 15))
    assert found["category"] == "STATEMENT_CATEGORY_PROTECTION_OF_MINORS"
    assert "KEYWORD_CHILD_SEXUAL_ABUSE_MATERIAL" in found["category_specification"]
    assert found["territorial_scope"] == ["FR"]
    assert "art. 227-23 al. 2" in found["illegal_content_legal_ground"]
    assert "art. 227-23 al. 3" in found["illegal_content_legal_ground"]
    assert (
        found["decision_ground_reference_url"]
        != shipped.bundle.policy_set.instruments["legitext:LEGITEXT000006070719"].url
    )


def test_cli_writes_statements_for_blocked_listings(write_pack: Write, tmp_path: Path) -> None:
    """`tamis eval --statements` writes the statements of each blocked listing, with its input line."""
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
        "--decided-on",
        "2025-06-02",
        "--policies",
        str(write_pack(base_pack(policy()))),
    )
    [line] = [json.loads(text) for text in result.stdout.splitlines()]
    assert (line["listing_id"], line["line"]) == ("b", 2) and line["statement"]["puid"].startswith("b-")
    assert line["statement"]["application_date"] == "2025-06-02"


@pytest.mark.parametrize("department", ["GP", "MQ", "GF", "RE", "YT"])
def test_the_seed_case_is_blocked_in_every_overseas_department(shipped: Evaluator, department: str) -> None:
    """French law applies as of right in the overseas departments: a child-like doll shipped to
    Mayotte is blocked under CP 227-23 as one shipped to Paris is; the US stays outside."""
    listing = {"id": "seed-2", "title": "Loli doll TPE 100 cm", "ship_to": [department, "US"]}
    verdict = shipped.evaluate(listing, date(2026, 1, 15))
    assert verdict.decision.value == "block"
    dolls = [match for match in verdict.matches if any(g.article.startswith("227-23") for g in match.grounds)]
    assert dolls and all(match.countries == (department,) for match in dolls)
