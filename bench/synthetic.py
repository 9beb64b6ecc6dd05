"""Synthetic policy packs of N policies, to measure how the cost per listing grows with N.

Each policy gets its own lexicon of invented words (so packs grow like real ones: more terms,
more rules); the first policies also look for the phrases the benchmark corpus contains, one
phrase each, so that every pack matches the corpus alike and only the pack's size varies.
Conditions mix lexicons, numbers, `any`, `not` and `unless`; places and dates vary. Grounds cite
the shipped pack's first instrument.
"""

from __future__ import annotations

import random
import shutil
import tempfile
from pathlib import Path

import yaml

from bench.corpus import FLAGGED
from tamis.engine.policyset import load_policy_set
from tamis.engine.sources import read_tree

PLACES = [(["FR"], []), (["EU"], []), (["EU"], ["SE"]), (["DE", "AT"], []), (["FR", "BE"], [])]
SYLLABLES = "ka zo ri mu te lo vi sa qu ba xe no fi ru pa".split()


def _word(rng: random.Random) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(3, 4)))


def synthetic_pack(count: int, seed: int = 11) -> Path:
    """Write a pack of `count` policies into a new temporary directory and return it."""
    rng = random.Random(seed)
    root = Path(tempfile.mkdtemp(prefix=f"tamis-synthetic-{count}-"))
    shutil.copytree(Path("policies/legal"), root / "legal")
    shutil.copy(Path("policies/attributes.yaml"), root / "attributes.yaml")  # height_cm, declared there
    shipped = load_policy_set(read_tree(Path("policies")))
    instrument = sorted(shipped.instruments.values(), key=lambda item: item.instrument)[0]
    article = next(iter(instrument.articles))
    (root / "lexicons").mkdir()
    (root / "rules").mkdir()
    for number in range(count):
        terms = [_word(rng) for _ in range(rng.randint(3, 8))]
        if number < len(FLAGGED):  # every pack matches the corpus alike, whatever its size
            terms.append(FLAGGED[number])
        lexicon = f"l{number}"
        (root / "lexicons" / f"{lexicon}.yaml").write_text(
            yaml.safe_dump(
                {"lexicon": lexicon, "terms": {"en": terms, "fr": [_word(rng)]}}, allow_unicode=True
            )
        )
        condition: dict[str, object] = {"lexicon": lexicon}
        shape = number % 4
        if shape == 1:
            condition = {"all": [condition, {"field": "attributes.height_cm", "lt": rng.randint(50, 150)}]}
        elif shape == 2:
            condition = {"any": [condition, {"lexicon": f"l{rng.randrange(count)}", "fields": ["title"]}]}
        elif shape == 3:
            condition = {"all": [condition, {"not": {"field": "seller.country", "in": ["FR", "DE"]}}]}
        applies, excluded = rng.choice(PLACES)
        policy: dict[str, object] = {
            "id": f"synthetic.p{number}",
            "title": f"Synthetic policy {number}",
            "decision": rng.choice(["block", "flag"]),
            "applies_in": applies,
            "except_in": excluded,
            "grounds": [{"instrument": instrument.instrument, "article": article}],
            "when": condition,
        }
        if number % 7 == 0:
            policy["effective"] = {"from": "2020-01-01"}
        if number % 9 == 0:
            policy["unless"] = [{"field": "price.amount", "gt": 450}]
        (root / "rules" / f"p{number}.yaml").write_text(yaml.safe_dump(policy, allow_unicode=True))
    return root
