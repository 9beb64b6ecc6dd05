"""Differential test: random policies and listings give the same matches through the compiled
durable-rules path as through a direct interpretation of the policy model, written here only.

The oracle shares text folding and lexicon search with the engine (tested on their own in
test_textnorm.py) and re-implements everything else: condition logic, negation over absent
fields, comparisons, jurisdictions, dates, exceptions and numbers read from text.
"""

from __future__ import annotations

import re
import tempfile
from datetime import date
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tamis.engine import Evaluator, load_bundle, textnorm
from tamis.engine.countries import EU_MEMBERS, expand
from tamis.engine.lexicons import LexiconIndex
from tamis.engine.model import Lexicon
from tests.conftest import INSTRUMENT, attributes

LEXICONS = {
    "alpha": {"en": ["alpha", "alpha beta"], "fr": ["élan*"]},
    "gamma": {"en": ["gamma", "delta ray"]},
    "omega": {"en": ["omega"], "fr": ["œuf"]},
}
EXCLUDE = {"alpha": {"en": ["alpha house"]}}
PATTERNS = [r"\d+\s*kg\b", r"zulu"]
TEXT_FIELDS = ["title", "description"]
WORDS = [
    "alpha",
    "ALPHA",
    "a.l.p.h.a",
    "alpha beta",
    "alpha house",
    "élancé",
    "gamma",
    "g4mma",
    "delta ray",
    "omega",
    "Ω",
    "oeuf",
    "œuf",
    "zulu",
    "12 kg",
    "120cm",
    "95 cm",
    "lamp",
    "the",
    "red",
]
SIZE_PATTERN = r"(\d+)\s*cm\b"

leaf = st.one_of(
    st.builds(
        lambda name, fields: {"lexicon": name, "fields": fields},
        st.sampled_from(sorted(LEXICONS)),
        st.sampled_from([["title"], ["description"], TEXT_FIELDS]),
    ),
    st.builds(
        lambda pattern, fields: {"regex": pattern, "fields": fields},
        st.sampled_from(PATTERNS),
        st.sampled_from([["title"], TEXT_FIELDS]),
    ),
    st.builds(
        lambda path, op, value: {"field": path, op: value},
        st.sampled_from(["price.amount", "attributes.height_cm"]),
        st.sampled_from(["lt", "lte", "gt", "gte", "equals"]),
        st.sampled_from([10, 50, 100, 120]),
    ),
    st.builds(
        lambda values: {"field": "seller.country", "in": values},
        st.lists(st.sampled_from(["CN", "FR", "DE", "EU"]), min_size=1, max_size=2),
    ),
    st.builds(lambda value: {"field": "attributes.ce_marking", "equals": value}, st.booleans()),
    st.builds(
        lambda source, op, value: {"field": "attributes.height_cm", op: value, "source": source},
        st.sampled_from(["stated", "text"]),
        st.sampled_from(["lt", "gt"]),
        st.sampled_from([100, 120]),
    ),
    st.builds(
        lambda path, value: {"field": path, "present": value},
        st.sampled_from(["seller.trader", "attributes.height_cm", "brand"]),
        st.booleans(),
    ),
)
condition = st.recursive(
    leaf,
    lambda children: st.one_of(
        st.builds(lambda items: {"all": items}, st.lists(children, min_size=1, max_size=3)),
        st.builds(lambda items: {"any": items}, st.lists(children, min_size=1, max_size=3)),
        st.builds(lambda inner: {"not": inner}, children),
    ),
    max_leaves=6,
)
place = st.sampled_from([(["FR"], []), (["EU"], []), (["EU"], ["SE"]), (["DE", "US"], [])])
dates = st.sampled_from([None, "2025-01-01", "2025-06-01", "2025-12-31"])


@st.composite
def policies(draw: st.DrawFn) -> list[dict[str, Any]]:
    found = []
    for number in range(draw(st.integers(1, 5))):
        applies, excluded = draw(place)
        start, end = sorted(draw(st.lists(dates, min_size=2, max_size=2)), key=lambda d: d or "")
        found.append(
            {
                "id": f"d.p{number}",
                "title": "t",
                "decision": draw(st.sampled_from(["block", "flag"])),
                "applies_in": applies,
                "except_in": excluded,
                "in_force": {key: value for key, value in (("from", start), ("to", end)) if value},
                "grounds": [{"instrument": INSTRUMENT["instrument"], "article": "1"}],
                "when": draw(condition),
                "unless": draw(st.lists(condition, max_size=1)),
            }
        )
    return found


@st.composite
def listings(draw: st.DrawFn) -> list[dict[str, Any]]:
    found = []
    for number in range(draw(st.integers(1, 8))):
        listing: dict[str, Any] = {
            "id": f"l{number}",
            "title": " ".join(draw(st.lists(st.sampled_from(WORDS), min_size=1, max_size=4))),
            "ship_to": draw(
                st.lists(st.sampled_from(["FR", "DE", "SE", "US", "RE", "MF"]), min_size=1, max_size=2)
            ),
        }
        if draw(st.booleans()):
            listing["description"] = " ".join(draw(st.lists(st.sampled_from(WORDS), max_size=5)))
        if draw(st.booleans()):
            listing["price"] = {"amount": draw(st.sampled_from([5, 10, 50, 99.5, 120])), "currency": "EUR"}
        attributes = {}
        if draw(st.booleans()):
            attributes["height_cm"] = draw(st.sampled_from([50, 100, 120, 180]))
        if draw(st.booleans()):
            attributes["ce_marking"] = draw(st.booleans())
        if attributes:
            listing["attributes"] = attributes
        if draw(st.booleans()):
            listing["brand"] = "Acme"
        if draw(st.booleans()):
            seller: dict[str, Any] = {"country": draw(st.sampled_from(["CN", "FR", "DE", "RE"]))}
            if draw(st.booleans()):
                seller["trader"] = {"name": "T"}
            listing["seller"] = seller
        found.append(listing)
    return found


def pack_files(items: list[dict[str, Any]]) -> dict[str, Any]:
    files: dict[str, Any] = {
        "legal/code.yaml": INSTRUMENT,
        "attributes.yaml": attributes(height_cm={"from_text": [{"patterns": [SIZE_PATTERN]}]}),
    }
    for name, terms in LEXICONS.items():
        files[f"lexicons/{name}.yaml"] = {"lexicon": name, "terms": terms, "exclude": EXCLUDE.get(name, {})}
    for number, data in enumerate(items):
        files[f"rules/p{number}.yaml"] = data
    return files


# --- the oracle -----------------------------------------------------------------------------

INDEX = LexiconIndex(
    Lexicon(lexicon=name, terms=terms, exclude=EXCLUDE.get(name, {})) for name, terms in LEXICONS.items()
)


#: Written out apart from the engine: France with its overseas departments, and the Union with
#: them and Saint-Martin.
_REFERENCE_MEMBERS = {
    "FR": {"FR", "GP", "MQ", "GF", "RE", "YT"},
    "EU": set(EU_MEMBERS) | {"GP", "MQ", "GF", "RE", "YT", "MF"},
}


def _value(listing: dict[str, Any], path: str, source: str) -> Any:
    value: Any = listing
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if path != "attributes.height_cm" or source == "stated" or (value is not None and source == "any"):
        return value
    sizes = [
        float(m.group(1))
        for name in TEXT_FIELDS
        for m in re.finditer(SIZE_PATTERN, textnorm.fold(listing.get(name, "")))
    ]
    return max(sizes) if sizes else None


def holds(node: dict[str, Any], listing: dict[str, Any]) -> bool:
    if "all" in node:
        return all(holds(child, listing) for child in node["all"])
    if "any" in node:
        return any(holds(child, listing) for child in node["any"])
    if "not" in node:
        return not holds(node["not"], listing)
    if "lexicon" in node:
        return any(
            hit.lexicon == node["lexicon"]
            for name in node["fields"]
            if name in listing
            for hit in INDEX.find(textnorm.words(textnorm.fold(listing[name])))
        )
    if "regex" in node:
        return any(
            re.search(node["regex"], textnorm.fold(listing[name]))
            for name in node["fields"]
            if name in listing
        )
    value = _value(listing, node["field"], node.get("source", "any"))
    if "present" in node:
        return (value is not None) == node["present"]
    if value is None:
        return False
    if "in" in node:
        members = {code for item in node["in"] for code in _REFERENCE_MEMBERS.get(item, {item})}
        return value in members
    operator = next(key for key in ("lt", "lte", "gt", "gte", "equals") if key in node)
    bound = node[operator]
    return {
        "lt": value < bound,
        "lte": value <= bound,
        "gt": value > bound,
        "gte": value >= bound,
        "equals": value == bound,
    }[operator]


def oracle(items: list[dict[str, Any]], listing: dict[str, Any], day: date) -> set[str]:
    found = set()
    for data in items:
        where = expand(data["applies_in"], data["except_in"])
        start, end = data["in_force"].get("from"), data["in_force"].get("to")
        in_force = (start is None or date.fromisoformat(start) <= day) and (
            end is None or day <= date.fromisoformat(end)
        )
        if (
            in_force
            and any(code in where for code in listing["ship_to"])
            and holds(data["when"], listing)
            and not any(holds(exception, listing) for exception in data["unless"])
        ):
            found.add(data["id"])
    return found


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(policies(), listings(), st.sampled_from([date(2024, 12, 31), date(2025, 6, 1), date(2026, 1, 1)]))
def test_engine_agrees_with_the_model(
    items: list[dict[str, Any]], cases: list[dict[str, Any]], day: date
) -> None:
    """Compiled rules fired by durable-rules match exactly the policies the model says apply."""
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        for name, content in pack_files(items).items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_text(yaml.safe_dump(content, allow_unicode=True), encoding="utf-8")
        evaluator = Evaluator(load_bundle(root))
    try:
        verdicts = evaluator.evaluate_many(cases, day)
    finally:
        evaluator.close()
    for listing, verdict in zip(cases, verdicts, strict=True):
        engine = {match.policy for match in verdict.matches}  # type: ignore[union-attr]
        assert engine == oracle(items, listing, day), (listing, items)
