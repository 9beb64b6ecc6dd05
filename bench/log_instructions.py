"""Instructions the verdict log costs per verdict, counted by valgrind: for A/B work on the log.

    python -m bench.log_instructions [--verdicts 2000] [--batch 250] [--keep]

What the server's sink does with each verdict it is about to answer (the record, its canonical
JSON and hashes, the id, the rows and their indexes, the commit) on a fresh SQLite log, with the
grpc_load catalogue (one listing in five matches, several policies each). The same is run under
valgrind over WARM and over WARM + N verdicts, and the difference divided by N, so start-up, the
bundle and the evaluations cancel out. Wall-clock time on a shared machine moves by 20–30%
between runs; instruction counts do not. `--keep` keeps the callgrind output of the longer run
under bench/results/ for `callgrind_annotate`.
"""

from __future__ import annotations

import argparse
import tempfile
from datetime import date
from pathlib import Path

from bench.grpc_load import catalogue
from bench.instructions import counted, per_unit
from bench.results import RESULTS, write
from tamis.engine import Evaluator, Verdict, load_bundle
from tamis.service.verdictlog import open_database
from tamis.service.verdictlog.records import Caller
from tamis.service.verdictlog.sink import LogSink

WARM = 500  # verdicts logged in both runs


def log(count: int, batch: int) -> None:
    """The measured work: judge the catalogue, then log the first `count` verdicts in batches."""
    bundle = load_bundle(Path("policies"))
    evaluator = Evaluator(bundle)
    outcomes = evaluator.evaluate_many(catalogue(2000), date(2025, 11, 20))
    verdicts = [outcome for outcome in outcomes if isinstance(outcome, Verdict)]
    evaluator.close()
    verdicts = (verdicts * (count // len(verdicts) + 1))[:count]
    with tempfile.TemporaryDirectory(prefix="tamis-log-instructions-") as directory:
        sink = LogSink(open_database(f"sqlite:{directory}/verdicts.sqlite3"))
        sink.bundle_loaded(bundle)
        caller = Caller("ipv4:127.0.0.1:50000", "bench")
        for start in range(0, len(verdicts), batch):
            sink.record(verdicts[start : start + batch], caller)
        sink.close()


def instructions(count: int, batch: int, out: str) -> int:
    """Instructions valgrind counts for a whole process logging `count` verdicts."""
    return counted("bench.log_instructions", "--log", str(count), "--batch", str(batch), out=out)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--verdicts", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=250, help="verdicts per append (a stream message)")
    parser.add_argument("--keep", action="store_true", help="keep the callgrind output of the longer run")
    parser.add_argument("--log", type=int, help=argparse.SUPPRESS)  # the run under valgrind
    arguments = parser.parse_args()
    if arguments.log is not None:
        log(arguments.log, arguments.batch)
        return
    RESULTS.mkdir(parents=True, exist_ok=True)
    kept = str(RESULTS / "callgrind.log_instructions") if arguments.keep else "/dev/null"
    per_verdict = per_unit(
        lambda count: instructions(count, arguments.batch, kept if count > WARM else "/dev/null"),
        WARM,
        arguments.verdicts,
    )
    print(f"batch {arguments.batch}: {per_verdict / 1000:,.1f}k instructions per logged verdict")
    result = {
        "verdicts": arguments.verdicts,
        "batch": arguments.batch,
        "instructions_per_verdict": per_verdict,
    }
    print(f"wrote {write('log-instructions', result)}")


if __name__ == "__main__":
    main()
