"""Resident memory while evaluating: after 10,000 evaluations and after 1,000,000 (no growth).

    python -m bench.memory_bench [--evaluations N] [--pack shipped|synthetic:N]

Facts are retracted after every batch and durable-rules keeps no session per listing, so memory
should stay flat; this measures it. Prints a short table and writes JSON under bench/results/.
"""

from __future__ import annotations

import argparse
import os
import time
from datetime import date
from pathlib import Path
from typing import Any

from bench.corpus import generate
from bench.results import write
from bench.synthetic import synthetic_pack
from tamis.engine import Evaluator, load_bundle

CHECKPOINTS = (10_000, 100_000, 300_000, 1_000_000)


def resident_mib() -> float:
    """Current resident set size (not the peak), from /proc."""
    with Path("/proc/self/statm").open() as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--evaluations", type=int, default=1_000_000)
    parser.add_argument("--pack", default="shipped")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--out", type=Path, default=None, help="default: bench/results/memory-<time>.json")
    arguments = parser.parse_args()
    source = (
        Path("policies") if arguments.pack == "shipped" else synthetic_pack(int(arguments.pack.split(":")[1]))
    )
    evaluator = Evaluator(load_bundle(source))
    corpus = generate(10_000)
    points: list[dict[str, Any]] = [{"evaluations": 0, "rss_mib": resident_mib()}]
    done, started = 0, time.perf_counter()
    checkpoints = [point for point in CHECKPOINTS if point <= arguments.evaluations]
    while done < arguments.evaluations:
        start = done % len(corpus)
        batch = corpus[start : start + arguments.batch]
        for listing in batch:  # fresh ids, as a real stream would have
            listing["id"] = f"m-{done}"
        evaluator.evaluate_many(batch, date(2026, 6, 1))
        done += len(batch)
        if checkpoints and done >= checkpoints[0]:
            points.append(
                {"evaluations": done, "rss_mib": resident_mib(), "seconds": time.perf_counter() - started}
            )
            print(f"{done:>10,} evaluations  RSS {points[-1]['rss_mib']:7.1f} MiB")
            checkpoints.pop(0)
    first = next(point for point in points if point["evaluations"] >= 10_000)
    growth = points[-1]["rss_mib"] - first["rss_mib"]
    print(f"growth from {first['evaluations']:,} to {points[-1]['evaluations']:,}: {growth:+.1f} MiB")
    path = write("memory", {"pack": arguments.pack, "points": points, "growth_mib": growth}, arguments.out)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
