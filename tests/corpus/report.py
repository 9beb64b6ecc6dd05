"""Score a policy pack on the corpus and print the per-family table: `python -m tests.corpus.report`.

For pack authors tuning policies: `--misses` lists every listing whose decision or grounds differ
from its label, `--rules` the per-rule recall, `--json PATH` writes every number.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tamis.engine import Evaluator, load_bundle
from tests.corpus.cases import FAMILIES, ROOT, load_cases
from tests.corpus.scoring import evaluate, misses, render, report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.corpus.report", description=__doc__)
    parser.add_argument("--policies", type=Path, default=ROOT / "policies", help="policy pack directory")
    parser.add_argument("--json", type=Path, help="also write the numbers as JSON to this file")
    parser.add_argument("--misses", action="store_true", help="list listings the pack gets wrong")
    parser.add_argument("--rules", action="store_true", help="print per-rule recall")
    parser.add_argument("--family", choices=FAMILIES, help="restrict --misses to one family")
    args = parser.parse_args(argv)

    evaluator = Evaluator(load_bundle(args.policies))
    try:
        outcomes = evaluate(evaluator, load_cases())
    finally:
        evaluator.close()
    numbers = report(outcomes)
    print(f"pack {evaluator.bundle.digest} on {len(outcomes)} listings\n")
    print(render(numbers))
    if args.rules:
        print("\nrule recall (matched / expected):")
        for rule, row in numbers["rules"].items():
            print(f"  {row['matched']:>3} / {row['expected']:<3} {rule}")
    if args.misses:
        chosen = [o for o in outcomes if args.family in (None, o.case.family)]
        print(f"\nmisses ({args.family or 'all families'}):")
        print("\n".join(misses(chosen)) or "  none")
    for line in numbers["refused"]:
        print(f"refused: {line}", file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps(numbers, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
