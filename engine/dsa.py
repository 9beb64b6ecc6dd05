"""A blocking verdict as DSA statements of reasons, ready for the EU Transparency Database.

Art. 17 of the Digital Services Act requires a statement of reasons for every restriction a
platform imposes, and art. 24(5) its submission, without personal data, to the Commission's
Transparency Database (schema: policies/legal/REFERENCES.md, section 3). A Tamis verdict already
holds what that statement needs: the legal grounds, the facts, where it applies, and that it was
automated. Policies choose the statement's category and keywords with namespaced tags
(`dsa-category:STATEMENT_CATEGORY_…`, `dsa-keyword:KEYWORD_…`), checked when the pack loads.
A statement has one territorial scope, so grounds of France and of the Union make two statements
(CORRECTIONS §2); each `puid` must be unique within the platform, so it names the decision.

Only a block is a restriction decided by the engine; a flag awaits a person, who decides.
"""

from __future__ import annotations

import hashlib
import re
from datetime import date
from typing import TYPE_CHECKING, Any

from tamis.engine.countries import MEMBER_STATE
from tamis.engine.dsatags import CATEGORY_TAG, KEYWORD_TAG
from tamis.engine.model import Decision
from tamis.engine.verdict import Ground, Match, Verdict

if TYPE_CHECKING:
    from tamis.engine.bundle import Bundle

#: Territorial scope: the EU and EEA codes the database accepts (Greece is GR).
TERRITORIES = frozenset(
    "AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IS IT LI LT LU LV MT NL NO PL PT RO SE SI SK".split()
)
DEFAULT_CATEGORY = "STATEMENT_CATEGORY_UNSAFE_AND_PROHIBITED_PRODUCTS"
DEFAULT_KEYWORD = "KEYWORD_PROHIBITED_PRODUCTS"
_PUID = re.compile(r"^[a-zA-Z0-9_-]{1,500}$")


#: Categories from the gravest down: a statement's main category, and its reference URL, come from
#: the gravest blocking ground, whatever the order of policy ids.
GRAVITY = tuple(
    f"STATEMENT_CATEGORY_{name}"
    for name in "PROTECTION_OF_MINORS RISK_FOR_PUBLIC_SECURITY UNSAFE_AND_PROHIBITED_PRODUCTS VIOLENCE "
    "ILLEGAL_OR_HARMFUL_SPEECH SELF_HARM ANIMAL_WELFARE SCAMS_AND_FRAUD INTELLECTUAL_PROPERTY_INFRINGEMENTS "
    "DATA_PROTECTION_AND_PRIVACY_VIOLATIONS CYBER_VIOLENCE CYBER_VIOLENCE_AGAINST_WOMEN "
    "NEGATIVE_EFFECTS_ON_CIVIC_DISCOURSE_OR_ELECTIONS CONSUMER_INFORMATION OTHER_VIOLATION_TC "
    "NOT_SPECIFIED_NOTICE".split()
)
CSAM_KEYWORD = "KEYWORD_CHILD_SEXUAL_ABUSE_MATERIAL"


Tags = dict[str, tuple[str, ...]]  # policy id → its tags


def _tags(tags: Tags, match: Match, prefix: str) -> list[str]:
    return [tag[len(prefix) :] for tag in tags[match.policy] if tag.startswith(prefix)]


def _gravity(tags: Tags, match: Match) -> tuple[int, int]:
    """Sort key, gravest first: child sexual abuse material, then the category's rank."""
    categories = _tags(tags, match, CATEGORY_TAG) or [DEFAULT_CATEGORY]
    return (0 if CSAM_KEYWORD in _tags(tags, match, KEYWORD_TAG) else 1, GRAVITY.index(categories[0]))


def _puid(text: str) -> str:
    """The text when the database accepts it as an identifier, else a stable digest of it."""
    if _PUID.match(text):
        return text
    return "tamis-" + hashlib.sha256(text.encode()).hexdigest()[:40]


def decision_id(verdict: Verdict, decided_on: date) -> str:
    """A stable id of one decision: the same verdict decided on the same day is the same decision."""
    blocking = sorted(match.policy for match in verdict.matches if match.decision is Decision.BLOCK)
    key = "|".join(
        (verdict.listing_id, verdict.bundle_digest, verdict.as_of.isoformat(), decided_on.isoformat())
    )
    return hashlib.sha256("|".join((key, *blocking)).encode()).hexdigest()[:16]


def statements_of_reasons(
    verdict: Verdict,
    listing: dict[str, Any],
    bundle: Bundle,
    *,
    decided_on: date,
    decision: str | None = None,
) -> list[dict[str, Any]]:
    """The statements for a blocking verdict (none for allow and flag), without personal data: one
    per jurisdiction of its grounds (France, the Union), each with that jurisdiction's territorial
    scope. `decided_on` is the day the platform applies the decision (`application_date`), apart
    from the day whose law was applied (`verdict.as_of`); `decision` identifies the decision (a
    verdict-log id), by default a digest of the verdict and that day. Each statement's `puid` is the
    listing id, the decision id and the jurisdiction, unique per statement as the database demands."""
    tags = {policy.id: policy.tags for policy in bundle.policy_set.policies}
    blocking = sorted(
        (match for match in verdict.matches if match.decision is Decision.BLOCK),
        key=lambda match: _gravity(tags, match),
    )
    jurisdictions = list(dict.fromkeys(ground.jurisdiction for match in blocking for ground in match.grounds))
    decision = decision or decision_id(verdict, decided_on)
    shipped = {code.upper() for code in listing["ship_to"]}
    statements = []
    for jurisdiction in jurisdictions:
        grounded = [
            (match, [ground for ground in match.grounds if ground.jurisdiction == jurisdiction])
            for match in blocking
        ]
        grounded = [(match, grounds) for match, grounds in grounded if grounds]
        countries = sorted(
            {
                code
                for match, _ in grounded
                for code in match.countries
                if jurisdiction in {"EU", MEMBER_STATE.get(code, code)}
            }
        )
        statements.append(
            _statement(
                verdict,
                listing,
                tags=tags,
                grounded=grounded,
                countries=countries,
                shipped=shipped,
                decided_on=decided_on,
            )
            | {"puid": _puid(f"{verdict.listing_id}-{decision}-{jurisdiction}")[:500]}
        )
    return statements


def _statement(
    verdict: Verdict,
    listing: dict[str, Any],
    *,
    tags: Tags,
    grounded: list[tuple[Match, list[Ground]]],
    countries: list[str],
    shipped: set[str],
    decided_on: date,
) -> dict[str, Any]:
    """One statement: its matches come gravest first, so the first gives category and reference."""
    matches = [match for match, _ in grounded]
    categories = list(dict.fromkeys(c for m in matches for c in _tags(tags, m, CATEGORY_TAG))) or [
        DEFAULT_CATEGORY
    ]
    keywords = list(dict.fromkeys(k for m in matches for k in _tags(tags, m, KEYWORD_TAG))) or [
        DEFAULT_KEYWORD
    ]
    grounds = [ground for _, cited in grounded for ground in cited]
    legal = "; ".join(
        dict.fromkeys(f"{ground.title} ({ground.jurisdiction}) art. {ground.article}" for ground in grounds)
    )
    explanation = " ".join(
        f"{match.title}: found "
        + ", ".join(f"{item.field} '{item.text}'" if item.text else item.condition for item in match.evidence)
        + "."
        for match in matches
    )
    facts = (
        f"Automated screening by Tamis (policy bundle {verdict.bundle_digest}) judged the listing "
        f"under the law in force on {verdict.as_of.isoformat()}. Policies applied: "
        + "; ".join(f"{match.policy} ({', '.join(match.countries)})" for match in matches)
        + f". {explanation}"
    )
    statement: dict[str, Any] = {
        "decision_visibility": [
            "DECISION_VISIBILITY_CONTENT_REMOVED"
            if set(countries) >= shipped
            else "DECISION_VISIBILITY_CONTENT_DISABLED"
        ],
        "decision_ground": "DECISION_GROUND_ILLEGAL_CONTENT",
        "decision_ground_reference_url": grounds[0].url[:500],
        "illegal_content_legal_ground": legal[:500],
        "illegal_content_explanation": explanation[:2000],
        "content_type": ["CONTENT_TYPE_PRODUCT"],
        "category": categories[0],
        "category_specification": keywords,
        "territorial_scope": sorted({MEMBER_STATE.get(code, code) for code in countries} & TERRITORIES),
        "application_date": decided_on.isoformat(),
        "decision_facts": facts[:5000],
        "source_type": "SOURCE_VOLUNTARY",
        "automated_detection": "Yes",
        "automated_decision": "AUTOMATED_DECISION_FULLY",
    }
    listed_at = listing.get("listed_at")
    if listed_at:  # the day the content was posted, when known; never made up
        statement["content_date"] = str(listed_at)[:10]
    if categories[1:]:
        statement["category_addition"] = categories[1:]
    gtin = listing.get("gtin")
    if gtin and len(gtin) == 13:
        statement["content_id"] = {"EAN-13": gtin}
    return statement
