"""In-process throughput of the engine: listings per second and the share of each stage.

    python -m bench.engine_bench [--listings N] [--pack shipped|synthetic:N] [--batch B]

Runs on one core (the process is single-threaded), prints a short table and writes JSON results
with the machine's core count and versions under bench/results/.
"""

from __future__ import annotations

import argparse
import gc
import time
from datetime import date
from pathlib import Path
from typing import Any

from bench.corpus import generate
from bench.results import write
from bench.synthetic import synthetic_pack
from tamis.engine import Evaluator, load_bundle
from tamis.engine.evaluator import STAGES, StageTimes

AS_OF = date(2026, 6, 1)


def run(pack: str, listings: int, batch: int, repeat: int) -> dict[str, Any]:
    """The fastest of `repeat` passes over the corpus (the others met more noise)."""
    source = Path("policies") if pack == "shipped" else synthetic_pack(int(pack.split(":")[1]))
    bundle = load_bundle(source)
    evaluator = Evaluator(bundle)
    corpus = generate(listings)
    evaluator.evaluate_many(corpus[:batch], AS_OF)  # warm caches
    # As the service does after each load (service.heap.settle_heap): the bundle and
    # here the corpus, which a service would not hold, leave the collector's sight.
    gc.collect()
    gc.freeze()
    best: tuple[float, StageTimes] | None = None
    decisions: dict[str, int] = {}
    for _ in range(repeat):
        times = StageTimes()
        decisions = {}
        started = time.perf_counter()
        for start in range(0, len(corpus), batch):
            for verdict in evaluator.evaluate_many(corpus[start : start + batch], AS_OF, times):
                key = getattr(verdict, "decision", None)
                name = key.value if key is not None else "error"
                decisions[name] = decisions.get(name, 0) + 1
        elapsed = time.perf_counter() - started
        if best is None or elapsed < best[0]:
            best = (elapsed, times)
    assert best is not None
    elapsed, times = best
    evaluator.close()
    gc.unfreeze()
    total = sum(times.seconds.values())
    return {
        "pack": pack,
        "policies": len(bundle.policy_set.policies),
        "engine_rules": len(bundle.program.rules),
        "listings": listings,
        "batch": batch,
        "repeat": repeat,
        "seconds": elapsed,
        "listings_per_second": listings / elapsed,
        "microseconds_per_listing": elapsed / listings * 1e6,
        "stages_microseconds": {stage: times.seconds[stage] / listings * 1e6 for stage in STAGES},
        "stages_share": {stage: times.seconds[stage] / total for stage in STAGES},
        "decisions": decisions,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--listings", type=int, default=100_000)
    parser.add_argument("--pack", action="append", help="shipped or synthetic:N (repeatable)")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=3, help="passes per pack; the fastest counts")
    parser.add_argument("--out", type=Path, default=None, help="default: bench/results/engine-<time>.json")
    arguments = parser.parse_args()
    packs = arguments.pack or ["shipped", "synthetic:50", "synthetic:200", "synthetic:1000"]
    results = [run(pack, arguments.listings, arguments.batch, arguments.repeat) for pack in packs]
    print(f"{'pack':16} {'policies':>8} {'rules':>6} {'listings/s':>11} {'µs/listing':>10}  stages (µs)")
    for result in results:
        stages = "  ".join(
            f"{stage.split()[0]} {value:.1f}" for stage, value in result["stages_microseconds"].items()
        )
        print(
            f"{result['pack']:16} {result['policies']:>8} {result['engine_rules']:>6} "
            f"{result['listings_per_second']:>11,.0f} {result['microseconds_per_listing']:>10.1f}  {stages}"
        )
    print(f"wrote {write('engine', results, arguments.out)}")


if __name__ == "__main__":
    main()
