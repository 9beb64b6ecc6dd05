"""Pack-level promises of the shipped policies: coverage of the law, honest grounds, and verdicts that
change with the date and the destination exactly where the law does."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import pytest

from tamis.engine import Bundle, Evaluator
from tamis.engine.model import AllOf, AnyOf, Condition, Confidence, NotOf, RegexTest
from tests.conftest import CORRECTIONS, REFERENCES
from tests.corpus.cases import CORRECTIONS_RULES

#: REFERENCES rules with no per-listing test, and why (also in policies/README.md).
NOT_ENCODED = {
    "eu.toys.reg-2025-2509": "process: applies from 1 Aug 2030",
    "eu.gpsr.22.marketplace-duties": "process: duties of the marketplace itself",
    "eu.dsa.16.notice-action": "process: notice-and-action procedure",
    "eu.dsa.17.statement-of-reasons": "process: statements of reasons",
    "eu.gpsr.5.general-safety": "no per-listing test: covered by the specific product policies",
    "eu.gpsr.19.distance-sale-info": "not decidable: the listing contract carries no manufacturer identity",
}
#: Skipped rules that REFERENCES does not mark `process`: skipped because a listing cannot show them.
UNDECIDABLE = ("eu.gpsr.5.", "eu.gpsr.19.")
EU_LANGUAGES = {"fr", "en", "de", "es", "it", "nl"}


def reference_rules() -> dict[str, str]:
    """Rule id → verdict column, for every row of REFERENCES section 2."""
    section = REFERENCES.read_text(encoding="utf-8").split("## 2.", 1)[1].split("\n## 3.", 1)[0]
    rules = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.split("|")]
        if len(cells) > 9 and re.fullmatch(r"(?:fr|eu)\.[a-z0-9.-]+", cells[1]):
            rules[cells[1]] = cells[8]
    return rules


def test_references_table_is_read() -> None:
    """The rule table parses to the 50 rules REFERENCES announces (guards the other tests)."""
    assert len(reference_rules()) == 50


def test_every_rule_of_references_has_a_policy(shipped_bundle: Bundle) -> None:
    """Each REFERENCES rule has a policy with its id (or id + '.suffix'), or is listed as skipped."""
    ids = [item.id for item in shipped_bundle.policy_set.policies]
    missing = [
        rule
        for rule in reference_rules()
        if rule not in NOT_ENCODED and not any(i == rule or i.startswith(rule + ".") for i in ids)
    ]
    assert missing == []
    for rule, verdict in reference_rules().items():
        if rule in NOT_ENCODED and not rule.startswith(UNDECIDABLE):
            assert verdict.startswith("process"), rule


def test_every_policy_id_names_a_references_rule(shipped_bundle: Bundle) -> None:
    """Policy ids are REFERENCES rule ids (or rules CORRECTIONS adds), or a rule id plus a dotted
    suffix (the corpus cites rule ids)."""
    rules = {**reference_rules(), **CORRECTIONS_RULES}
    for item in shipped_bundle.policy_set.policies:
        assert any(item.id == rule or item.id.startswith(rule + ".") for rule in rules), item.id


def test_at_least_forty_policies_in_thirteen_families(shipped_bundle: Bundle) -> None:
    """The pack is broad enough to switch on: 40+ policies, every one tagged with a family."""
    policies = shipped_bundle.policy_set.policies
    assert len(policies) >= 40
    tags = {tag for item in policies for tag in item.tags if tag.startswith("family:")}
    assert len(tags) == 13
    assert all(any(tag.startswith("family:") for tag in item.tags) for item in policies)


def test_every_policy_has_three_examples_each_way(shipped_bundle: Bundle) -> None:
    """At least three listings that must match and three lookalikes that must not, per policy."""
    for item in shipped_bundle.policy_set.policies:
        assert len(item.examples.match) >= 3, item.id
        assert len(item.examples.no_match) >= 3, item.id


def test_block_policies_are_high_confidence(shipped_bundle: Bundle) -> None:
    """A doubtful rule flags: every block policy carries high confidence."""
    for item in shipped_bundle.policy_set.policies:
        if item.decision == "block":
            assert item.confidence is Confidence.HIGH, item.id


def test_doubtful_policies_explain_themselves(shipped_bundle: Bundle) -> None:
    """A policy with medium or low confidence says why in its note."""
    for item in shipped_bundle.policy_set.policies:
        if item.confidence is not Confidence.HIGH:
            assert item.note, item.id


def test_instruments_use_the_identifiers_references_gives(shipped_bundle: Bundle) -> None:
    """CELEX and JORFTEXT ids appear in REFERENCES or CORRECTIONS; a LEGITEXT is verified there or
    says how it was verified; an `other:` id says the official identifier is not verified."""
    text = REFERENCES.read_text(encoding="utf-8") + CORRECTIONS.read_text(encoding="utf-8")
    for identifier, instrument in shipped_bundle.policy_set.instruments.items():
        scheme, value = identifier.split(":", 1)
        note = (instrument.note or "").lower()
        if scheme in ("celex", "jorftext"):
            assert value in text, identifier
        elif scheme == "legitext":
            assert value in text or "verified with the search tool" in note, identifier
        else:
            assert scheme == "other" and "not verified" in note, identifier


def test_every_cited_instrument_is_used_and_every_ground_resolves(shipped_bundle: Bundle) -> None:
    """Each ground names a declared article, and each declared instrument is cited by a policy."""
    policy_set = shipped_bundle.policy_set
    cited = set()
    for item in policy_set.policies:
        for ground in item.grounds:
            assert ground.article in policy_set.instruments[ground.instrument].articles
            cited.add(ground.instrument)
    assert cited == set(policy_set.instruments)


def _regexes(condition: Condition) -> list[str]:
    if isinstance(condition, AllOf | AnyOf):
        children = condition.all if isinstance(condition, AllOf) else condition.any
        return [pattern for child in children for pattern in _regexes(child)]
    if isinstance(condition, NotOf):
        return _regexes(condition.not_)
    return [condition.regex] if isinstance(condition, RegexTest) else []


def test_regexes_are_few_and_anchored_on_text(shipped_bundle: Bundle) -> None:
    """At most eleven regular-expression conditions, none starting with \\b or a look-behind.

    Six of them are the title's units a lexicon cannot say (a dose, a weight, a volume, a puff count, a
    laser class, a "+" bundle): what tells an offer from a listing that only mentions a product.
    """
    patterns = {
        pattern
        for item in shipped_bundle.policy_set.policies
        for condition in (item.when, *item.unless)
        for pattern in _regexes(condition)
    }
    assert 0 < len(patterns) <= 11
    assert not any(pattern.startswith(("\\b", "(?<")) for pattern in patterns)


def test_lexicons_speak_french_and_english_and_eu_wide_ones_four_more(shipped_bundle: Bundle) -> None:
    """Every lexicon has French and English terms; those an EU-wide policy reads also German,
    Spanish, Italian and Dutch."""
    policy_set = shipped_bundle.policy_set
    eu_wide = {
        lexicon
        for item in policy_set.policies
        if "EU" in item.applies_in
        for condition in (item.when, *item.unless)
        for lexicon in _lexicons(condition)
    }
    for name, lexicon in policy_set.lexicons.items():
        assert {"fr", "en"} <= set(lexicon.terms), name
        if name in eu_wide:
            assert set(lexicon.terms) >= EU_LANGUAGES, name


def _lexicons(condition: Condition) -> list[str]:
    if isinstance(condition, AllOf | AnyOf):
        children = condition.all if isinstance(condition, AllOf) else condition.any
        return [name for child in children for name in _lexicons(child)]
    if isinstance(condition, NotOf):
        return _lexicons(condition.not_)
    lexicon = getattr(condition, "lexicon", None)
    return [lexicon] if isinstance(lexicon, str) else []


# --- verdicts through the real engine ------------------------------------------------------------


def clean(title: str, ship_to: list[str], **extra: Any) -> dict[str, Any]:
    """A listing from a fully identified EU trader, so marketplace-duty flags stay out of the way."""
    return {
        "id": "pack-test",
        "title": title,
        "brand": "Marque",
        "gtin": "3760000000001",
        "seller": {
            "id": "s-fr",
            "name": "Boutique SARL",
            "country": "FR",
            "trader": {
                "name": "Boutique SARL",
                "address": "1 rue de Paris, 75001 Paris",
                "registration_number": "RCS Paris 123 456 789",
                "self_certified": True,
            },
        },
        "ship_to": ship_to,
        **extra,
    }


def judge(
    evaluator: Evaluator, title: str, day: date, ship_to: list[str] | None = None
) -> tuple[str, set[str]]:
    verdict = evaluator.evaluate(clean(title, ship_to or ["FR"]), day)
    return verdict.decision.value, {match.policy for match in verdict.matches}


def test_brass_knuckles_flagged_before_the_decree_blocked_after(shipped: Evaluator) -> None:
    """Brass knuckles: age-gated on 6 Sep 2025, category A1 (block) from 7 Sep 2025."""
    before = judge(shipped, "Coup de poing américain en acier", date(2025, 9, 6))
    after = judge(shipped, "Coup de poing américain en acier", date(2025, 9, 7))
    assert before == ("flag", {"fr.csi.l312-1.minors.age-gate"})
    assert after[0] == "block" and "fr.csi.r311-2.a1-14.brass-knuckles" in after[1]


def test_snus_lawful_to_sweden_blocked_to_france(shipped: Evaluator) -> None:
    """The same snus listing is allowed shipped to Sweden by a Swedish trader and blocked shipped to
    France or Germany. (A trader established in France may not sell tobacco at a distance even to
    buyers abroad: fr.cgi.568-ter.tobacco-distance-sale.from-france.)"""
    day = date(2025, 11, 20)
    listing = clean("Snus General White Portion 24g", ["SE"])
    listing["seller"] = {**listing["seller"], "country": "SE"}
    verdict = shipped.evaluate(listing, day)
    assert (verdict.decision.value, {match.policy for match in verdict.matches}) == ("allow", set())
    listing["seller"] = {**listing["seller"], "country": "FR"}
    verdict = shipped.evaluate(listing, day)
    assert verdict.decision.value == "block"
    assert {match.policy for match in verdict.matches} == {"fr.cgi.568-ter.tobacco-distance-sale.from-france"}
    for country in ("FR", "DE"):
        decision, policies = judge(shipped, "Snus General White Portion 24g", day, [country])
        assert decision == "block" and "eu.tpd.17.snus" in policies


def test_disposable_vapes_age_gated_before_26_february_2025_blocked_after(shipped: Evaluator) -> None:
    """A puff is age-gated on 25 Feb 2025, blocked from 26 Feb 2025 in France, and allowed in Germany."""
    title = "Elf Bar 600 puffs, blueberry"
    assert judge(shipped, title, date(2025, 2, 25)) == ("flag", {"fr.csp.l3513-5.vape-minors"})
    decision, policies = judge(shipped, title, date(2025, 2, 26))
    assert decision == "block" and "fr.csp.l3513-5-1.disposable-vape" in policies
    assert judge(shipped, title, date(2025, 2, 26), ["DE"]) == ("allow", set())


@pytest.mark.parametrize(
    ("day", "decision"),
    [
        (date(2026, 3, 1), "allow"),
        (date(2026, 3, 31), "allow"),
        (date(2026, 4, 1), "block"),
    ],
)
def test_nicotine_pouches_follow_the_chosen_dates(shipped: Evaluator, day: date, decision: str) -> None:
    """Nicotine pouches: allowed until 31 Mar 2026, blocked from 1 Apr 2026, the décret's own date
    (CORRECTIONS E10: no flag window in March)."""
    assert judge(shipped, "ZYN Cool Mint 6 mg, 20 nicotine pouches", day)[0] == decision


@pytest.mark.parametrize(
    "title",
    [
        "Maison de poupée en bois (doll house), 3 étages",
        "Bath bomb lavande, lot de 6",
        "Laser hair removal device, IPL",
        "Killer deal: wireless headphones, -50 %",
        "Reborn baby doll 55 cm, silicone",
        "Couteau de cuisine chef 20 cm inox",
        "Niveau laser vert 360°, classe 2",
        "Cream crackers biscuits 200 g",
        "Robe de mariée couleur ivoire",
        "Pantalon cigarette femme noir",
        "Verres à whisky en cristal, lot de 4",
        "Faraday bag signal blocker for car keys",
    ],
)
def test_benign_lookalikes_are_allowed(shipped: Evaluator, title: str) -> None:
    """Everyday products that share words with prohibited ones are allowed in France."""
    assert judge(shipped, title, date(2026, 6, 1)) == ("allow", set())


@pytest.mark.parametrize(
    ("title", "policy_id"),
    [
        ("Knuckle duster ring, solid steel", "fr.csi.r311-2.a1-14.brass-knuckles"),
        ("Z0mbie kn1fe, green handle", "fr.csi.r311-2.a1-13.zombie-knife-machete"),
        ("Mini love doll 65 cm, realistic", "fr.penal.227-23.childlike-sex-doll"),
        ("Brou1lleur GPS voiture", "fr.cpce.l33-3-1.jammer"),
        ("Cracker protoxyde d'azote + 50 ballons", "fr.csp.l3611-3.n2o-crackers"),
        ("35% Food Grade Hydrogen Peroxide", "eu.precursors.2019-1148.5.annex-i"),
        ("E-liquide menthe 100 ml 3 mg", "eu.tpd.20-3.volumes"),
    ],
)
def test_evasions_and_euphemisms_are_blocked(shipped: Evaluator, title: str, policy_id: str) -> None:
    """Leetspeak, euphemisms and numbers written only in text still reach the block policy."""
    decision, policies = judge(shipped, title, date(2026, 6, 1))
    assert decision == "block" and policy_id in policies


DUTIES = {"eu.gpsr.16.responsible-person", "eu.msr.4.eu-operator", "eu.dsa.30-31.trader-traceability"}


def duties(evaluator: Evaluator, title: str, country: str, **attributes: Any) -> set[str]:
    """The marketplace-duty policies a traceable trader's listing to France gets on 1 Jun 2026."""
    listing = clean(title, ["FR"], attributes=attributes)
    listing["seller"] = {**listing["seller"], "country": country}
    verdict = evaluator.evaluate(listing, date(2026, 6, 1))
    return {match.policy for match in verdict.matches} & DUTIES


@pytest.mark.parametrize(
    ("title", "country", "attributes", "expected"),
    [
        ("Phone stand, aluminium", "CN", {}, {"eu.gpsr.16.responsible-person"}),
        ("Wireless earbuds", "CN", {"ce_marking": True}, {"eu.msr.4.eu-operator"}),
        ("Peluche lapin 30 cm, jouet", "HK", {"ce_marking": True}, {"eu.msr.4.eu-operator"}),
        ("Phone stand, aluminium", "DE", {}, set()),
        ("Phone stand, aluminium", "CN", {"eu_responsible_person": "Rep GmbH, Berlin"}, set()),
        ("Organic green tea, 100 tea bags", "CN", {}, set()),
        ("Crème hydratante visage 50 ml", "KR", {}, set()),
        ("Ibuprofen 400 mg, 20 tablets", "IN", {}, set()),
        ("Cream charger 640 g bottle, vanilla flavour", "CN", {}, {"eu.gpsr.16.responsible-person"}),
        ("Jouet laser pour chat", "HK", {}, {"eu.gpsr.16.responsible-person"}),
    ],
)
def test_marketplace_duties_follow_the_product(
    shipped: Evaluator, title: str, country: str, attributes: dict[str, Any], expected: set[str]
) -> None:
    """A non-EU seller's product gets GPSR art. 16, Reg. 2019/1020 art. 4 or neither, by product."""
    assert duties(shipped, title, country, **attributes) == expected


# --- the seed case: CP 227-23 ----------------------------------------------------------------------
CHILDLIKE_DOLL = "fr.penal.227-23.childlike-sex-doll"


@pytest.mark.parametrize(
    "title",
    [
        "Bath doll for kids, 40 cm, silicone, fully functional bath toy",
        "Reborn silicone doll 55 cm, newborn baby, for children",
        "Poupée mannequin 29 cm pour enfants, mini jupe et accessoires",
        "Puppenkleidung Set für 43 cm Babypuppen, Mini-Rock",
        "Lolita fashion dress, women size M",
        "Mini USB cable for love doll heating system",
        "Wig for sex doll, 100 cm size, blonde",
        "Sex doll 165 cm adult body in a mini skirt outfit",
        "Love doll 1.65 m petite, TPE",
        "Poupée sexuelle adulte 158 cm, petits seins",
    ],
)
def test_children_products_accessories_fashion_and_adult_dolls_are_not_227_23(
    shipped: Evaluator, title: str
) -> None:
    """CORRECTIONS E1/E2: no children's product, accessory, fashion item or adult-sized adult doll is
    blocked as a pornographic representation of a minor."""
    assert CHILDLIKE_DOLL not in judge(shipped, title, date(2026, 6, 1))[1]


@pytest.mark.parametrize(
    "title",
    [
        "Mini doll 100cm TPE",  # en
        "Loli doll TPE 100 cm",
        "TPE doll 4ft petite",
        "Petite love doll 1m20 young face",
        "Real doll 1.25 m TPE, baby face",
        "Poupée 100cm TPE, petite, 3 trous",  # fr
        "Sexpuppe 120 cm, flacher Körper, Kindergesicht",  # de
        "Muñeca sexual 1,10 m cara de niña",  # es
        "Bambola del sesso 108 cm corpo da ragazzina",  # it
        "Sekspop 4 ft, jong gezicht",  # nl
        "Lalka erotyczna 110 cm, dziecięca twarz",  # pl
        "Boneca sexual 1m10, rosto infantil",  # pt
    ],
)
def test_child_like_sex_doll_evasions_are_blocked(shipped: Evaluator, title: str) -> None:
    """CORRECTIONS E4: word orders, heights in m, ft and '1m20', and child-like cues in eight languages."""
    decision, policies = judge(shipped, title, date(2026, 6, 1))
    assert decision == "block" and CHILDLIKE_DOLL in policies


def test_height_alone_flags_and_never_blocks(shipped: Evaluator) -> None:
    """CORRECTIONS E3: a TPE doll under 140 cm with no child-like cue is for a person to look at."""
    decision, policies = judge(shipped, "Real doll 1.25 m TPE", date(2026, 6, 1))
    assert decision == "flag" and f"{CHILDLIKE_DOLL}.review" in policies
