"""`tamis eval` against the JSON round trip of the same listings: its marginal cost per listing.

    python -m bench.eval_bench [--small 200] [--large 20000] [--runs 3]

Runs `tamis eval` as users run it (a child process, output to a file) on the seeded corpus at two
sizes of the same file shape; the difference divided by the difference in listings is the
marginal cost, without start-up and the bundle load. The reference is what merely reading and
writing the same lines costs in the same Python: `json.loads` then `json.dumps` of each line.
The engine's share is the in-process cost of `Evaluator.evaluate_many` over the same listings, in
batches as `tamis eval` sends them; the rest of the marginal cost is the command's own.
Each figure is the processor time (user and system) of the median of `--runs` runs.
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from bench.corpus import generate
from bench.results import ROOT, write
from tamis.engine import Evaluator, load_bundle
from tamis.service.commands.evaluate import BATCH

AS_OF = date(2026, 6, 1)


def processor_seconds() -> float:
    """Processor time (user and system) of this process and its finished children: on a shared
    machine it moves much less with the other work than the wall clock does."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def median_seconds(runs: int, action: Callable[[], object]) -> float:
    times = []
    for _ in range(runs):
        started = processor_seconds()
        action()
        times.append(processor_seconds() - started)
    return statistics.median(times)


def run_eval(source: Path, out: Path) -> None:
    with out.open("wb") as sink:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "tamis.service.cli",
                "eval",
                "--input",
                str(source),
                "--as-of",
                str(AS_OF),
            ],
            stdout=sink,
            stderr=subprocess.DEVNULL,
            cwd=ROOT,
            check=True,
        )


def round_trip(lines: list[str]) -> None:
    for line in lines:
        json.dumps(json.loads(line))


def engine_pass(evaluator: Evaluator, listings: list[dict[str, Any]]) -> None:
    for start in range(0, len(listings), BATCH):
        evaluator.evaluate_many(listings[start : start + BATCH], AS_OF)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--small", type=int, default=200)
    parser.add_argument("--large", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path, help="results file (default bench/results/eval-<time>.json)")
    arguments = parser.parse_args()
    listings = generate(arguments.large)
    lines = [json.dumps(listing, ensure_ascii=False) for listing in listings]  # as bench.corpus writes
    spread = arguments.large - arguments.small
    with tempfile.TemporaryDirectory() as directory:
        small, large, out = (Path(directory) / name for name in ("small.jsonl", "large.jsonl", "out.jsonl"))
        small.write_text("".join(line + "\n" for line in lines[: arguments.small]), encoding="utf-8")
        large.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        seconds_small = median_seconds(arguments.runs, lambda: run_eval(small, out))
        seconds_large = median_seconds(arguments.runs, lambda: run_eval(large, out))
    marginal = (seconds_large - seconds_small) / spread
    reference = median_seconds(arguments.runs, lambda: round_trip(lines)) / len(lines)
    evaluator = Evaluator(load_bundle(ROOT / "policies"))
    engine_pass(evaluator, listings[: BATCH * 2])  # warm caches
    gc.collect()
    gc.freeze()  # as `tamis eval` and the service do after the load (service.heap.settle_heap)
    engine = median_seconds(arguments.runs, lambda: engine_pass(evaluator, listings)) / len(listings)
    evaluator.close()
    results = {
        "listings": [arguments.small, arguments.large],
        "runs": arguments.runs,
        "eval_seconds": [seconds_small, seconds_large],
        "marginal_us": marginal * 1e6,
        "json_round_trip_us": reference * 1e6,
        "ratio": marginal / reference,
        "engine_us": engine * 1e6,
        "outside_engine_us": (marginal - engine) * 1e6,
    }
    sizes = f"{seconds_small:.2f} s for {arguments.small:,}, {seconds_large:.2f} s for {arguments.large:,}"
    print(f"tamis eval: {sizes} listings (processor time)")
    print(f"marginal cost      {results['marginal_us']:8.1f} µs per listing")
    print(f"JSON round trip    {results['json_round_trip_us']:8.1f} µs per listing")
    print(f"ratio              {results['ratio']:8.1f} ×")
    print(f"  engine           {results['engine_us']:8.1f} µs (evaluate_many in batches of {BATCH})")
    print(f"  the rest         {results['outside_engine_us']:8.1f} µs (reading, serialising, writing)")
    print(f"written to {write('eval', results, arguments.out)}")


if __name__ == "__main__":
    main()
