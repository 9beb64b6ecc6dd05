"""A blocking verdict as a DSA statement of reasons, ready for the EU Transparency Database.

Art. 17 of the Digital Services Act requires a statement of reasons for every restriction a
platform imposes, and art. 24(5) its submission, without personal data, to the Commission's
Transparency Database (schema: policies/legal/REFERENCES.md, section 3). A Tamis verdict already
holds what that statement needs: the legal grounds, the facts, where it applies, and that it was
automated. Policies choose the statement's category and keywords with namespaced tags
(`dsa-category:STATEMENT_CATEGORY_…`, `dsa-keyword:KEYWORD_…`), checked when the pack loads.

Only a block is a restriction decided by the engine; a flag awaits a person, who decides.
"""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING, Any

from engine.model import Decision
from engine.verdict import Match, Verdict

if TYPE_CHECKING:
    from engine.bundle import Bundle

CATEGORY_TAG = "dsa-category:"
KEYWORD_TAG = "dsa-keyword:"

CATEGORIES = frozenset(
    f"STATEMENT_CATEGORY_{name}"
    for name in "ANIMAL_WELFARE CONSUMER_INFORMATION CYBER_VIOLENCE CYBER_VIOLENCE_AGAINST_WOMEN "
    "DATA_PROTECTION_AND_PRIVACY_VIOLATIONS ILLEGAL_OR_HARMFUL_SPEECH INTELLECTUAL_PROPERTY_INFRINGEMENTS "
    "NEGATIVE_EFFECTS_ON_CIVIC_DISCOURSE_OR_ELECTIONS NOT_SPECIFIED_NOTICE OTHER_VIOLATION_TC "
    "PROTECTION_OF_MINORS RISK_FOR_PUBLIC_SECURITY SCAMS_AND_FRAUD SELF_HARM UNSAFE_AND_PROHIBITED_PRODUCTS "
    "VIOLENCE".split()
)
KEYWORDS = frozenset(
    f"KEYWORD_{name}"
    for name in "ADULT_SEXUAL_MATERIAL AGE_SPECIFIC_RESTRICTIONS AGE_SPECIFIC_RESTRICTIONS_MINORS "
    "ANIMAL_HARM "
    "BIOMETRIC_DATA_BREACH BULLYING_AGAINST_GIRLS CHILD_SEXUAL_ABUSE_MATERIAL "
    "CHILD_SEXUAL_ABUSE_MATERIAL_DEEPFAKE CONTENT_PROMOTING_EATING_DISORDERS COORDINATED_HARM "
    "COPYRIGHT_INFRINGEMENT CYBER_BULLYING_INTIMIDATION CYBER_HARASSMENT CYBER_HARASSMENT_AGAINST_WOMEN "
    "CYBER_INCITEMENT CYBER_STALKING CYBER_STALKING_AGAINST_WOMEN DATA_FALSIFICATION DEFAMATION "
    "DESIGN_INFRINGEMENT DISCRIMINATION FEMALE_GENDERED_DISINFORMATION GEOGRAPHIC_INDICATIONS_INFRINGEMENT "
    "GEOGRAPHICAL_REQUIREMENTS GOODS_SERVICES_NOT_PERMITTED GROOMING_SEXUAL_ENTICEMENT_MINORS HATE_SPEECH "
    "HIDDEN_ADVERTISEMENT HUMAN_EXPLOITATION HUMAN_TRAFFICKING ILLEGAL_ORGANIZATIONS "
    "IMPERSONATION_ACCOUNT_HIJACKING INAUTHENTIC_ACCOUNTS INAUTHENTIC_LISTINGS INAUTHENTIC_USER_REVIEWS "
    "INCITEMENT_AGAINST_WOMEN INCITEMENT_VIOLENCE_HATRED INSUFFICIENT_INFORMATION_ON_TRADERS "
    "LANGUAGE_REQUIREMENTS MISINFORMATION_DISINFORMATION MISLEADING_INFO_CONSUMER_RIGHTS "
    "MISLEADING_INFO_GOODS_SERVICES MISSING_PROCESSING_GROUND NON_CONSENSUAL_IMAGE_SHARING "
    "NON_CONSENSUAL_IMAGE_SHARING_AGAINST_WOMEN NON_CONSENSUAL_MATERIAL_DEEPFAKE "
    "NON_CONSENSUAL_MATERIAL_DEEPFAKE_AGAINST_WOMEN NONCOMPLIANCE_PRICING NUDITY PATENT_INFRINGEMENT "
    "PHISHING PROHIBITED_PRODUCTS PYRAMID_SCHEMES RIGHT_TO_BE_FORGOTTEN RISK_ENVIRONMENTAL_DAMAGE "
    "RISK_PUBLIC_HEALTH SELF_MUTILATION STALKING SUICIDE TERRORIST_CONTENT TRADE_SECRET_INFRINGEMENT "
    "TRADEMARK_INFRINGEMENT TRAFFICKING_WOMEN_GIRLS UNLAWFUL_SALE_ANIMALS UNSAFE_CHALLENGES UNSAFE_PRODUCTS "
    "VIOLATION_EU_LAW VIOLATION_NATIONAL_LAW OTHER".split()
)
#: Territorial scope: the EU and EEA codes the database accepts (Greece is GR).
TERRITORIES = frozenset(
    "AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IS IT LI LT LU LV MT NL NO PL PT RO SE SI SK".split()
)
DEFAULT_CATEGORY = "STATEMENT_CATEGORY_UNSAFE_AND_PROHIBITED_PRODUCTS"
DEFAULT_KEYWORD = "KEYWORD_PROHIBITED_PRODUCTS"
_PUID = re.compile(r"^[a-zA-Z0-9_-]{1,500}$")


def tag_problems(tags: tuple[str, ...]) -> list[str]:
    """Tags in the dsa namespaces whose value the database does not know."""
    problems = []
    for tag in tags:
        if tag.startswith(CATEGORY_TAG) and tag[len(CATEGORY_TAG) :] not in CATEGORIES:
            problems.append(f"unknown DSA statement category '{tag[len(CATEGORY_TAG) :]}'")
        if tag.startswith(KEYWORD_TAG) and tag[len(KEYWORD_TAG) :] not in KEYWORDS:
            problems.append(f"unknown DSA keyword '{tag[len(KEYWORD_TAG) :]}'")
    return problems


def _tagged(bundle: Bundle, matches: list[Match], prefix: str) -> list[str]:
    policies = {policy.id: policy for policy in bundle.policy_set.policies}
    found: list[str] = []
    for match in matches:
        for tag in policies[match.policy].tags:
            value = tag[len(prefix) :]
            if tag.startswith(prefix) and value not in found:
                found.append(value)
    return found


def _puid(listing_id: str) -> str:
    """The listing id when the database accepts it, else a stable digest of it."""
    if _PUID.match(listing_id):
        return listing_id
    return "tamis-" + hashlib.sha256(listing_id.encode()).hexdigest()[:40]


def statement_of_reasons(verdict: Verdict, listing: dict[str, Any], bundle: Bundle) -> dict[str, Any] | None:
    """The statement for a blocking verdict (None for allow and flag), without personal data."""
    blocking = [match for match in verdict.matches if match.decision is Decision.BLOCK]
    if not blocking:
        return None
    countries = sorted({code for match in blocking for code in match.countries})
    everywhere = set(countries) >= {code.upper() for code in listing["ship_to"]}
    categories = _tagged(bundle, blocking, CATEGORY_TAG) or [DEFAULT_CATEGORY]
    keywords = _tagged(bundle, blocking, KEYWORD_TAG) or [DEFAULT_KEYWORD]
    grounds = [ground for match in blocking for ground in match.grounds]
    legal = "; ".join(
        dict.fromkeys(f"{ground.title} ({ground.jurisdiction}) art. {ground.article}" for ground in grounds)
    )
    explanation = " ".join(
        f"{match.title}: found "
        + ", ".join(f"{item.field} '{item.text}'" if item.text else item.condition for item in match.evidence)
        + "."
        for match in blocking
    )
    facts = (
        f"Automated screening by Tamis (policy bundle {verdict.policy_version}) judged the listing "
        f"under the law in force on {verdict.as_of.isoformat()}. Policies applied: "
        + "; ".join(f"{match.policy} ({', '.join(match.countries)})" for match in blocking)
        + f". {explanation}"
    )
    statement: dict[str, Any] = {
        "decision_visibility": [
            "DECISION_VISIBILITY_CONTENT_REMOVED" if everywhere else "DECISION_VISIBILITY_CONTENT_DISABLED"
        ],
        "decision_ground": "DECISION_GROUND_ILLEGAL_CONTENT",
        "decision_ground_reference_url": grounds[0].url[:500],
        "illegal_content_legal_ground": legal[:500],
        "illegal_content_explanation": explanation[:2000],
        "content_type": ["CONTENT_TYPE_PRODUCT"],
        "category": categories[0],
        "category_specification": keywords,
        "territorial_scope": [code for code in countries if code in TERRITORIES],
        "content_date": (listing.get("listed_at") or verdict.as_of.isoformat())[:10],
        "application_date": verdict.as_of.isoformat(),
        "decision_facts": facts[:5000],
        "source_type": "SOURCE_VOLUNTARY",
        "automated_detection": "Yes",
        "automated_decision": "AUTOMATED_DECISION_FULLY",
        "puid": _puid(verdict.listing_id),
    }
    if categories[1:]:
        statement["category_addition"] = categories[1:]
    gtin = listing.get("gtin")
    if gtin and len(gtin) == 13:
        statement["content_id"] = {"EAN-13": gtin}
    return statement
