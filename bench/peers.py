"""Tamis in the peer rule-engine benchmark (../shared/peers): the same seeded workload through
GoRules ZEN, Rego, CEL, CLIPS, durable-rules and Tamis end to end, interleaved in one process.

    python -m bench.peers [run.py's options] [--peers DIR]

The harness (workload, peer adapters, runner, reference check) is shared and read from
`--peers` (default ../shared/peers beside the checkout, or $TAMIS_PEERS). Its own Tamis adapter
predates the `tamis.engine` package and declared attributes; this one replaces it. Each rule
becomes a policy with its own lexicon; Tamis gets the raw text and no precomputed keyword hits,
so compare it with a peer plus the Aho-Corasick pre-pass. Needs the peers' packages:
`.venv/bin/pip install -r ../shared/peers/requirements.txt`.
"""

from __future__ import annotations

import importlib
import os
import sys
import tempfile
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from tamis.engine import Evaluator, Verdict, load_bundle

#: workload attribute → the Tamis attribute standing for it (declared as a number, nothing read from text)
ATTRIBUTES = {
    "price_eur": None,  # price.amount, a core field
    "height_cm": "height_cm",
    "nicotine_mg_ml": "nicotine_mg_ml",
    "laser_class": "age_min",
    "blade_cm": "blade_length_cm",
    "power_mw": "laser_power_mw",
    "weight_g": "volume_ml",
}
AS_OF = date(2026, 11, 27)
BATCH = 500


def _field(attribute: str) -> str:
    name = ATTRIBUTES[attribute]
    return "price.amount" if name is None else f"attributes.{name}"


def write_pack(rules: Sequence[Any]) -> Path:
    """A pack with one policy and one lexicon per workload rule."""
    root = Path(tempfile.mkdtemp(prefix=f"tamis-peers-{len(rules)}-"))
    for sub in ("legal", "lexicons", "rules"):
        (root / sub).mkdir()
    (root / "legal" / "bench.yaml").write_text(
        yaml.safe_dump(
            {
                "instrument": "other:bench",
                "title": "Benchmark instrument",
                "jurisdiction": "FR",
                "url": "https://example.org/",
                "articles": {"1": {"title": "Benchmark article"}},
            }
        )
    )
    declared = {
        name: {"type": "number", "description": f"The workload's {attribute}."}
        for attribute, name in ATTRIBUTES.items()
        if name is not None
    }
    (root / "attributes.yaml").write_text(yaml.safe_dump({"attributes": declared}))
    for rule in rules:
        name = f"r{rule.rid[1:]}"
        (root / "lexicons" / f"{name}.yaml").write_text(
            yaml.safe_dump({"lexicon": name, "terms": {"en": list(rule.kws)}})
        )
        test = {"field": _field(rule.attr), "gt" if rule.op == ">" else "lt": rule.thr}
        policy = {
            "id": f"bench.rule.{name}",
            "title": f"Rule {rule.rid}",
            "decision": "block",
            "applies_in": ["FR"],
            "grounds": [{"instrument": "other:bench", "article": "1"}],
            "when": {
                "all": [
                    {"field": "category", "equals": rule.cat},
                    {"any": [test, {"lexicon": name, "fields": ["title", "description"]}]},
                ]
            },
        }
        (root / "rules" / f"{name}.yaml").write_text(yaml.safe_dump(policy))
    return root


def to_listing(item: dict[str, Any]) -> dict[str, Any]:
    attributes = {name: item[attribute] for attribute, name in ATTRIBUTES.items() if name is not None}
    return {
        "id": str(item["id"]),
        "title": item["title"],
        "description": item["description"],
        "category": item["category"],
        "ship_to": ["FR"],
        "price": {"amount": item["price_eur"], "currency": "EUR"},
        "attributes": attributes,
    }


def _rule_ids(verdict: Verdict) -> set[str]:
    return {"R" + match.policy.rsplit(".r", 1)[1] for match in verdict.matches}


class Tamis:
    """Tamis end to end (validation, folding, lexicons, durable-rules, verdicts with grounds
    and evidence) in batches of BATCH listings, as a stream or `tamis eval` judges them."""

    name = "TAMIS end to end (raw text)"
    lib = "tamis"
    evaluator: Evaluator | None = None

    def compile(self, rules: Sequence[Any]) -> None:
        if self.evaluator is not None:
            self.evaluator.close()
        self.evaluator = Evaluator(load_bundle(write_pack(rules)))

    def eval_batch(self, listings: Sequence[dict[str, Any]]) -> list[set[str]]:
        assert self.evaluator is not None
        found: list[set[str]] = []
        for start in range(0, len(listings), BATCH):
            chunk = [to_listing(item) for item in listings[start : start + BATCH]]
            for verdict in self.evaluator.evaluate_many(chunk, AS_OF):
                assert isinstance(verdict, Verdict), verdict
                found.append(_rule_ids(verdict))
        return found


class TamisOne(Tamis):
    """One listing per call, as a unary gRPC call judges it."""

    name = "TAMIS end to end, one at a time"

    def eval_batch(self, listings: Sequence[dict[str, Any]]) -> list[set[str]]:
        assert self.evaluator is not None
        return [_rule_ids(self.evaluator.evaluate(to_listing(item), AS_OF)) for item in listings]


def harness(argv: list[str]) -> tuple[Path, list[str]]:
    """The shared harness's folder (from --peers, $TAMIS_PEERS or beside the checkout) and the
    arguments left for its runner."""
    default = os.environ.get("TAMIS_PEERS") or Path(__file__).resolve().parents[2] / "shared" / "peers"
    folder, rest = Path(default), list(argv)
    if "--peers" in rest:
        at = rest.index("--peers")
        folder = Path(rest[at + 1])
        del rest[at : at + 2]
    if not (folder / "run.py").is_file():
        raise SystemExit(f"no peer benchmark in {folder} (give its folder with --peers)")
    return folder, rest


def main() -> None:
    folder, rest = harness(sys.argv[1:])
    sys.path.insert(0, str(folder))
    engines = importlib.import_module("engines")  # the shared harness, on the path above
    runner = importlib.import_module("run")
    engines.ALL[:] = [cls for cls in engines.ALL if getattr(cls, "lib", "") != "tamis"] + [Tamis, TamisOne]
    sys.argv = [f"{__name__}", *rest]
    runner.main()


if __name__ == "__main__":
    main()
