"""Instructions per listing of an in-process evaluation, counted by valgrind: for A/B work.

    python -m bench.instructions [--listings 1000] [--pack shipped|synthetic:N]

Wall-clock time on a shared two-core machine moves by 20–30% between runs of the same code,
which hides the 2–10% a single change gains. The number of instructions executed does not
move (hash seeds fixed): this runs the same evaluation under valgrind twice, over 256 and over
256 + N listings of the seeded corpus, and divides the difference by N, so that start-up, the
bundle's compilation and the corpus's generation cancel out. About a minute for 1,000
listings; needs valgrind (Debian: `apt-get install valgrind`).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.corpus import generate
from bench.engine_bench import AS_OF
from bench.results import write
from bench.synthetic import synthetic_pack
from tamis.engine import Evaluator, load_bundle

WARM = 256  # listings evaluated in both runs (caches warm, code paths seen once)
CORPUS = 5_000  # generated in both runs, whatever is evaluated
_COLLECTED = re.compile(r"Collected\s*:\s*(\d+)")


def evaluate(pack: str, count: int, batch: int = 256) -> None:
    """The measured work: evaluate the first `count` listings of the corpus, in batches."""
    source = Path("policies") if pack == "shipped" else synthetic_pack(int(pack.split(":")[1]))
    evaluator = Evaluator(load_bundle(source))
    listings = generate(CORPUS)[:count]
    for start in range(0, len(listings), batch):
        evaluator.evaluate_many(listings[start : start + batch], AS_OF)


def counted(module: str, *arguments: str, out: str = "/dev/null") -> int:
    """Instructions valgrind counts for a whole process `python -m module arguments…`."""
    command = [
        *("valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"),
        *(sys.executable, "-m", module, *arguments),
    ]
    done = subprocess.run(
        command, capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": "0"}, check=True
    )
    found = _COLLECTED.search(done.stderr)
    if found is None:
        raise SystemExit(f"valgrind printed no count:\n{done.stderr[-2000:]}")
    return int(found.group(1))


def per_unit(instructions_of: Callable[[int], int], warm: int, extra: int) -> float:
    """Instructions per unit of work: `instructions_of(warm + extra)` less `instructions_of(warm)`,
    over `extra`, so that start-up and warm-up cancel out. The two runs go side by side, one per
    core."""
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (Debian: apt-get install valgrind)")
    with ThreadPoolExecutor(2) as pool:
        base, more = pool.map(instructions_of, (warm, warm + extra))
    return (more - base) / extra


def instructions(pack: str, count: int) -> int:
    """Instructions valgrind counts for a whole process evaluating `count` listings."""
    return counted("bench.instructions", "--evaluate", str(count), "--pack", pack)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--listings", type=int, default=1000)
    parser.add_argument("--pack", default="shipped", help="shipped or synthetic:N")
    parser.add_argument("--evaluate", type=int, help=argparse.SUPPRESS)  # the run under valgrind
    arguments = parser.parse_args()
    if arguments.evaluate is not None:
        evaluate(arguments.pack, arguments.evaluate)
        return
    if not 0 < arguments.listings <= CORPUS - WARM:
        raise SystemExit(f"--listings must be between 1 and {CORPUS - WARM}")
    per_listing = per_unit(lambda count: instructions(arguments.pack, count), WARM, arguments.listings)
    print(f"{arguments.pack}: {per_listing / 1000:,.1f}k instructions per listing")
    result = {"pack": arguments.pack, "listings": arguments.listings, "instructions_per_listing": per_listing}
    print(f"wrote {write('instructions', result)}")


if __name__ == "__main__":
    main()
