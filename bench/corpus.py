"""A seeded corpus of generated marketplace listings for benchmarks (not for accuracy tests).

Titles have 5–20 words and descriptions 20–300 words, in French, English, German, Spanish,
Italian and Dutch, with numbers, units and punctuation as sellers write them. A share of the
listings carries a phrase that some policy looks for (a prohibited or restricted product), so
that the engine, evidence and verdict assembly are exercised as well as the allow path. Sellers
are mostly compliant, as on a marketplace that checks traders at onboarding: 3% give no trader
details (DSA art. 30) and 5% of sellers from outside the Union name no EU responsible person.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path
from typing import Any

WORDS = {
    "fr": "le la les un une des de du et pour avec sans en sur dans très haute qualité livraison rapide "
    "gratuite nouveau nouvelle neuf neuve taille couleur noir blanc rouge bleu vert coton acier inox "
    "plastique bois cuir femme homme enfant maison cuisine jardin bureau sport voyage cadeau idéal "
    "pratique facile à utiliser résistant léger durable élégant moderne classique garantie retour "
    "satisfait remboursé compatible accessoire ensemble lot pièces modèle marque original qualité "
    "supérieure confortable doux lavable machine dimensions poids contenu emballage soigné".split(),
    "en": "the a an and for with without in on of to high quality fast free shipping new brand size "
    "colour black white red blue green cotton steel stainless plastic wood leather women men kids home "
    "kitchen garden office sport travel gift ideal practical easy to use durable lightweight elegant "
    "modern classic warranty return satisfied refund compatible accessory set pack pieces model "
    "original premium comfortable soft washable machine dimensions weight package includes".split(),
    "de": "der die das ein eine und für mit ohne in auf von zu hohe qualität schneller kostenloser "
    "versand neu größe farbe schwarz weiß rot blau grün baumwolle stahl edelstahl kunststoff holz "
    "leder damen herren kinder haus küche garten büro sport reise geschenk ideal praktisch einfach "
    "langlebig leicht elegant modern klassisch garantie rückgabe zubehör set stück modell marke".split(),
    "es": "el la los las un una y para con sin en de alta calidad envío rápido gratis nuevo nueva "
    "talla color negro blanco rojo azul verde algodón acero inoxidable plástico madera cuero mujer "
    "hombre niños casa cocina jardín oficina deporte viaje regalo ideal práctico fácil duradero "
    "ligero elegante moderno clásico garantía devolución accesorio conjunto piezas modelo marca".split(),
    "it": "il la lo i le un una e per con senza in su di alta qualità spedizione veloce gratuita "
    "nuovo nuova taglia colore nero bianco rosso blu verde cotone acciaio inox plastica legno pelle "
    "donna uomo bambini casa cucina giardino ufficio sport viaggio regalo ideale pratico facile "
    "resistente leggero elegante moderno classico garanzia reso accessorio set pezzi modello".split(),
    "nl": "de het een en voor met zonder in op van hoge kwaliteit snelle gratis verzending nieuw "
    "maat kleur zwart wit rood blauw groen katoen staal roestvrij kunststof hout leer dames heren "
    "kinderen huis keuken tuin kantoor sport reizen cadeau ideaal praktisch makkelijk duurzaam licht "
    "elegant modern klassiek garantie retour accessoire set stuks model merk origineel".split(),
}
UNITS = ["cm", "mm", "ml", "g", "kg", "W", "V", "mAh", "pcs", "x"]
PUNCTUATION = [",", ".", "!", " -", ":", ";"]
# Phrases policies look for, as sellers write them (including evasions).
FLAGGED = [
    "poupée sexuelle mini 100cm",
    "love doll 120 cm aspect jeune",
    "coup de poing américain acier",
    "knuckle duster ring",
    "brouilleur GSM 4G",
    "signal jammer portable",
    "e-liquide 50ml 36mg booster",
    "snus white portion",
    "crème éclaircissante au mercure",
    "green laser pointer 1000mW class 4",
    "s3x d0ll l o l i",
    "nic salt e-liquid 50mg/ml",
    "Brouilleur GPS voiture",
]
COUNTRIES = ["CN", "HK", "FR", "DE", "IT", "ES", "NL", "PL", "TR", "US", "GB", "BE"]
EU_SELLERS = {"FR", "DE", "IT", "ES", "NL", "PL", "BE"}
EU_SELLERS = {"FR", "DE", "IT", "ES", "NL", "PL", "BE"}
SHIP_TO = [["FR"], ["FR", "BE"], ["DE"], ["FR", "DE", "IT", "ES"], ["NL"], ["SE"], ["US"]]


def _sentence(rng: random.Random, words: list[str], count: int) -> str:
    out = []
    for _ in range(count):
        roll = rng.random()
        if roll < 0.06:
            out.append(f"{rng.randint(1, 500)}{rng.choice(UNITS)}")
        elif roll < 0.09:
            out.append(str(rng.randint(1, 2025)))
        else:
            out.append(rng.choice(words))
        if rng.random() < 0.08:
            out[-1] += rng.choice(PUNCTUATION)
    text = " ".join(out)
    return text[:1].upper() + text[1:]


def listing(rng: random.Random, number: int, flagged_share: float) -> dict[str, Any]:
    language = rng.choice(list(WORDS))
    words = WORDS[language]
    title = _sentence(rng, words, rng.randint(5, 20))
    description = _sentence(rng, words, rng.randint(20, 300))
    if rng.random() < flagged_share:
        phrase = rng.choice(FLAGGED)
        if rng.random() < 0.5:
            title = f"{phrase} {title}"
        else:
            cut = rng.randint(0, len(description))
            description = f"{description[:cut]} {phrase} {description[cut:]}"
    seller_country = rng.choice(COUNTRIES)
    item: dict[str, Any] = {
        "id": f"bench-{number}",
        "title": title,
        "description": description,
        "category": rng.choice(["Maison", "Sport", "Jouets", "Électronique", "Beauté", "Mode", "Adulte"]),
        "price": {"amount": round(rng.uniform(1, 500), 2), "currency": "EUR"},
        "seller": {"id": f"seller-{rng.randint(1, 5000)}", "name": "Shop", "country": seller_country},
        "ship_to": rng.choice(SHIP_TO),
    }
    if rng.random() < 0.97:  # a marketplace that checks traders at onboarding (DSA art. 30)
        item["seller"]["trader"] = {
            "name": "Shop Ltd",
            "address": "1 Road",
            "registration_number": "123",
            "self_certified": True,
        }
    attributes: dict[str, Any] = {}
    if rng.random() < 0.3:
        attributes = {"height_cm": rng.randint(5, 200), "ce_marking": rng.random() < 0.8}
    if seller_country not in EU_SELLERS and rng.random() < 0.95:  # GPSR art. 16, Reg. 2019/1020 art. 4
        attributes["eu_responsible_person"] = "EU Rep GmbH, Berlin"
    if attributes:
        item["attributes"] = attributes
    return item


def generate(count: int, seed: int = 7, flagged_share: float = 0.1) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [listing(rng, number, flagged_share) for number in range(count)]


def main() -> None:
    """`python -m bench.corpus N [OUT.jsonl]`: write N listings as JSON lines."""
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else Path(f"bench/results/corpus-{count}.jsonl")
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as stream:
        for item in generate(count):
            stream.write(json.dumps(item, ensure_ascii=False) + "\n")
    print(f"wrote {count} listings to {out}")


if __name__ == "__main__":
    main()
