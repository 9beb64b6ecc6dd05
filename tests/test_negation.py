"""A term the text negates ("sans X", "X-free", "not for kids") is not evidence of X."""

from __future__ import annotations

import pytest

from tamis.engine import textnorm
from tamis.engine.lexicons import LexiconIndex
from tamis.engine.model import Lexicon

INDEX = LexiconIndex(
    [
        Lexicon(lexicon="nicotine", terms={"en": ("nicotine",), "fr": ("nicotine",), "de": ("nikotin",)}),
        Lexicon(lexicon="for_children", terms={"en": ("for children", "for kids"), "fr": ("pour enfants",)}),
        Lexicon(
            lexicon="mercury",
            terms={
                "en": ("mercury",),
                "fr": ("mercure",),
                "it": ("mercurio",),
                "nl": ("kwik",),
                "pl": ("rteci",),
                "de": ("quecksilber", "quecksilbercreme", "quecksilbersalbe"),
            },
        ),
        Lexicon(
            lexicon="tobacco",
            terms={
                "de": ("tabak",),
                "fr": ("tabac",),
                "it": ("tabacco",),
                "nl": ("tabak",),
                "pl": ("tytoniu",),
            },
        ),
        Lexicon(
            lexicon="hydroquinone",
            terms={
                "de": ("hydrochinon",),
                "es": ("hidroquinona",),
                "en": ("hydroquinone",),
                "it": ("idrochinone",),
            },
        ),
    ]
)


def found(text: str) -> set[str]:
    return {hit.lexicon for hit in INDEX.find(textnorm.words(textnorm.fold(text)))}


@pytest.mark.parametrize(
    "text",
    [
        "E-liquide sans nicotine 10 ml",
        "Nicotine-free herbal blend",
        "Liquid ohne Nikotin",
        "Crème éclaircissante, ni mercure ni hydroquinone",
        "Love doll 100 cm, not for kids",
        "Mercury free thermometer",
        "Cream without mercury",
        "Nicotine free, free shipping",
        "Ce liquide ne contient pas nicotine",
        "Tagescreme frei von Hydrochinon",
        "Crema libre de hidroquinona",
        "Crema priva di mercurio",
        "Crème vrij van kwik",
        "Creme livre de mercúrio",
        "Krem wolny od rtęci",
        "Tisana, non è un mercurio",  # "is not a": a disclaimer, not a claim
        "This is not a mercury lamp",
    ],
)
def test_negated_terms_do_not_count(text: str) -> None:
    assert found(text) == set()


@pytest.mark.parametrize(
    ("text", "lexicon"),
    [
        ("Nicotine salt 20 mg, free shipping", "nicotine"),
        ("Mercury cream, free delivery", "mercury"),
        ("Poupée pour enfants, sans piles", "for_children"),
        ("No box. Nicotine 50 mg", "nicotine"),
    ],
)
def test_terms_near_an_unrelated_negation_still_count(text: str, lexicon: str) -> None:
    """Only the word just before the term (or "free" just after) negates it."""
    assert lexicon in found(text)


@pytest.mark.parametrize(
    "text",
    [
        "Kaffee-Pouches ohne Nikotin und Tabak",
        "Gesichtscreme ohne Quecksilber und Hydrochinon",
        "Gesichtscreme ohne Quecksilber, Blei und Hydrochinon",
        "Sachets sans nicotine ni tabac",
        "Bustine senza nicotina e tabacco",
        "Crema sin mercurio ni hidroquinona",
        "Zakjes zonder nicotine en tabak",
        "Saszetki bez nikotyny i tytoniu",
        "Herbal pouches, nicotine and tobacco free",
        "Tagescreme frei von Quecksilber, Hydrochinon und Parabenen",  # a middle item
        "Gesichtscreme ohne Parabene, Hydrochinon, Blei und Duftstoffe",
        "Crema sin parabenos, hidroquinona ni mercurio",
        "Crème sans parabènes, sans alcool, mercure ou hydroquinone",
        "Zonnebrand zonder parabenen, kwik, hydrochinon of parfum",  # Dutch "of" is "or"
        "Dagcrème zonder kwik of hydrochinon",
    ],
)
def test_a_negation_covers_its_coordinated_list(text: str) -> None:
    assert found(text) == set()


@pytest.mark.parametrize(
    ("text", "lexicon"),
    [
        ("Crème sans parabène, avec mercure et hydroquinone", "hydroquinone"),
        ("Sans parfum, ce sérum contient de l'acide et hydroquinone", "hydroquinone"),
        ("Nicotine and tobacco, free shipping", "nicotine"),
        ("Ohne Zucker aber mit Tabak und Nikotin", "tobacco"),
        ("Tabak und Nikotin", "nicotine"),
        ("No box, bottle of nicotine 50 mg", "nicotine"),  # English "of" joins no list
        ("Sans parfum, ce sérum à l'hydroquinone et vitamine C", "hydroquinone"),
        ("Sans parabènes. Crème à base d'hydroquinone et de kojic", "hydroquinone"),
        ("Ohne Zucker, aber Hydrochinon und Kojisäure", "hydroquinone"),
        ("Crème hydroquinone et vitamine C, sans parabènes", "hydroquinone"),
        ("Crème sans parabènes à l'hydroquinone 4 %", "hydroquinone"),  # "a l" folds to "a i"
        ("Sans parfum, hydroquinone à l'acide kojique", "hydroquinone"),
        ("Sans parfum, hydroquinone 4 % et acide kojique", "hydroquinone"),  # a dose: it has it
    ],
)
def test_a_negated_list_stops_where_the_list_does(text: str, lexicon: str) -> None:
    """A coordinator far from the negation, or after "but"/"with", starts no negated list."""
    assert lexicon in found(text)


@pytest.mark.parametrize(
    "text",
    [
        # "exempt(e)(s) de" and its neighbours, before the term and its list
        "Crème visage exempte de mercure et d'hydroquinone",
        "Crème unifiante exempte d'hydroquinone",
        "Crema exenta de mercurio",
        "Crema esente da mercurio e idrochinone",
        "Creme isenta de mercúrio",
        # "né", "nem", "ani" coordinate a negated list
        "Crema schiarente senza mercurio né idrochinone",
        "Crema senza idrochinone né mercurio",
        "Non contiene né mercurio né idrochinone",
        "Creme sem mercúrio nem hidroquinona",
        "Krem bez hydrochinonu ani rtęci",
        # German "-frei(e)" after the term, like "X free"
        "Hydrochinon-freie Creme",
        "Quecksilber- und Hydrochinon-freie Creme",
        "Tagescreme, Quecksilber frei",
        # a lab's "not detected"
        "Crème: mercure non détecté (rapport de labo)",
        "Crème: mercure et hydroquinone non détectés",
        "Mercury not detected",
        "Quecksilber nicht nachweisbar",
        "Crema, mercurio non rilevato",
        "Crema, mercurio no detectado",
        "Crème, kwik niet gedetecteerd",
        "Creme, mercúrio não detetado",
        # replaced by something else
        "Crème éclaircissante, hydroquinone remplacée par arbutine",
        "Brightening cream, hydroquinone replaced by arbutin",
        "Hydrochinon ersetzt durch Arbutin",
        "Crema, idrochinone sostituito da arbutina",
        "Crema, hidroquinona sustituida por arbutina",
        "Arbutine, qui remplace l'hydroquinone",
        # an alternative to it, instead of it
        "Sérum taches, alternative naturelle à l'hydroquinone",
        "Soin 'Hydroquinone Alternative' serum",
        "Natural alternative to hydroquinone",
        "Alternative zu Hydrochinon",
        "Alternativa naturale all'idrochinone",
        "Alternativa al mercurio",
        "Arbutin serum instead of hydroquinone",
        "Arbutine au lieu de l'hydroquinone",
        "Arbutina invece dell'idrochinone",
        "Arbutina en lugar de hidroquinona",
        "Arbutin statt Hydrochinon",
        "Arbutin anstelle von Hydrochinon",
        # a yes/no answer that ends the field
        "Crème unifiante (hydroquinone : non)",
        "Contains mercury: no",
        "Quecksilber: nein",
    ],
)
def test_more_ways_of_saying_the_product_lacks_a_term(text: str) -> None:
    assert found(text) == set()


@pytest.mark.parametrize(
    ("text", "lexicon"),
    [
        ("Quecksilbercreme frei Haus", "mercury"),
        ("Quecksilbersalbe frei verkäuflich", "mercury"),  # sold over the counter
        ("Crème hydroquinone non comédogène", "hydroquinone"),  # "non" that is not an answer
        ("Crème au mercure", "mercury"),
        ("Contient de l'hydroquinone 4 %", "hydroquinone"),
        ("Crème alternative à base de mercure", "mercury"),
        ("Mercury alternative medicine pills", "mercury"),
        ("Mercury alternator 12 V", "mercury"),  # a word, not a prefix
        ("Kwik vrij te koop", "mercury"),  # "freely for sale"
        ("Enthält noch Quecksilber", "mercury"),  # "noch" is "still", no "neither … nor"
    ],
)
def test_the_new_cues_leave_stated_terms_alone(text: str, lexicon: str) -> None:
    assert lexicon in found(text)


def test_a_cue_after_a_term_is_not_read_across_fields() -> None:
    """Fields are joined by newlines: "Quecksilber" ending a title is not negated by a
    description opening "Freie Farbwahl", nor by a description that is just "no"."""
    views = [
        textnorm.words(textnorm.fold(text)) for text in ("Creme mit Quecksilber", "Freie Farbwahl", "no")
    ]
    assert [hit[1] for hit in INDEX.find_all(views)] == ["mercury"]


#: A lexicon whose terms say "X free": evidence of a product without X.
WITHOUT = LexiconIndex([Lexicon(lexicon="tobacco_free", terms={"en": ("tobacco-free", "nicotine free")})])


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("Snus tobacco, free shipping", False),
        ("E-liquid with nicotine, free delivery", False),
        ("Nicotine pouches, tobacco-free", True),
        ("Pouches tobacco free, nicotine free, free shipping", True),
    ],
)
def test_a_term_saying_x_free_is_not_read_across_free_shipping(text: str, said: bool) -> None:
    """ "tobacco, free shipping" is no "tobacco-free": a seller's banner would excuse the snus."""
    assert bool(WITHOUT.find(textnorm.words(textnorm.fold(text)))) == said


@pytest.mark.parametrize(
    "text",
    [
        "Crème au mercure non détectée par la douane",
        "Mercury cream, mercury not detected by customs",
        "Crème au mercure non détecté aux rayons X",
        "Quecksilbercreme, Quecksilber nicht nachweisbar beim Zoll",
    ],
)
def test_not_detected_by_someone_is_no_lab_finding(text: str) -> None:
    """ "Not detected by customs" says who missed it, not that it is absent."""
    assert "mercury" in found(text)


@pytest.mark.parametrize(
    "text",
    [
        "Örtportioner utan nikotin",  # sv
        "Urteportioner uden nikotin",  # da
        "Pliculețe fără nicotine",  # ro (folds to "fara")
        "Σακουλάκια χωρίς nicotine",  # el
        "Sáčky bez nikotin",  # cs shares the Polish "bez"
        "Tasakok nikotin nélkül, menta",  # hu: the negation follows the noun
        "Nikotin fri portioner",  # sv/da "fri" after the term, like "free"
        "Örtportioner utan tobak och nikotin",  # a negated list, joined by "och"
        "Urteposer uden tobak og nikotin",  # da "og"
    ],
)
def test_negations_of_the_other_eu_languages(text: str) -> None:
    assert "nicotine" not in found(text)


@pytest.mark.parametrize("text", ["Portioner med nikotin", "Tasakok nikotin, menta", "Pliculețe cu nicotine"])
def test_the_other_eu_languages_still_state_a_term(text: str) -> None:
    assert "nicotine" in found(text)
