"""What the Prometheus metrics add to each call: the Python work of the hooks, timed alone.

    python -m bench.metrics_bench [--calls 20000]

Times the hooks of one unary Evaluate call (the call interceptor, `metrics.judged` on its
verdict, the verdict log's commit observer) and `metrics.judged` on a batch of 480 verdicts,
best of five runs, beside the evaluation of that one listing for scale; once with values in
memory (one process) and once in prometheus-client's multiprocess mode (`--workers`, values in
shared files), in a child process, since the mode is chosen when the library is imported. A
whole unary call through gRPC costs about a millisecond on the development machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from typing import Any

from bench.results import ROOT, write

AS_OF = date(2026, 4, 1)
BATCH = 480


class _Context:
    """The two things the interceptor asks of a call's context, for a call that ended OK."""

    def code(self) -> None:
        return None

    def invocation_metadata(self) -> tuple[()]:
        return ()


class _Details:
    method = "/tamis.v1.PolicyService/Evaluate"
    invocation_metadata = ()


def best(work: Callable[[], object], repeat: int) -> float:
    """Microseconds per call of `work`, the best of five runs of `repeat` calls."""
    runs = []
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(repeat):
            work()
        runs.append((time.perf_counter() - started) / repeat * 1e6)
    return min(runs)


def measure(calls: int) -> dict[str, float]:
    import grpc  # noqa: PLC0415 (after the environment chose the mode)

    from bench.corpus import generate  # noqa: PLC0415
    from tamis.engine import Evaluator, load_bundle  # noqa: PLC0415
    from tamis.engine.evaluator import StageTimes  # noqa: PLC0415
    from tamis.service.server import metrics  # noqa: PLC0415

    bundle = load_bundle(ROOT / "policies")
    evaluator = Evaluator(bundle)
    listings = generate(BATCH)
    one = evaluator.evaluate_many(listings[:1], AS_OF)
    batch = evaluator.evaluate_many(listings, AS_OF)
    metrics.bundle_loaded(bundle, None, 1.0)
    interceptor = metrics.ServerCalls()
    handler: Any = grpc.unary_unary_rpc_method_handler(lambda request, context: request)
    context, details = _Context(), _Details()
    times, batch_times = StageTimes(listings=1), StageTimes(listings=BATCH)

    def unary() -> None:
        wrapped: Any = interceptor.intercept_service(lambda _: handler, details)  # type: ignore[arg-type]
        wrapped.unary_unary(None, context)
        metrics.judged(one, times)
        metrics.log_commit(0.001, 1, False)

    return {
        "hooks_per_unary_call_us": best(unary, calls),
        "judged_per_batch_us": best(lambda: metrics.judged(batch, batch_times), max(calls // 100, 10)),
        "evaluate_one_listing_us": best(lambda: evaluator.evaluate_many(listings[:1], AS_OF), calls // 10),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child:
        print(json.dumps(measure(arguments.calls)))
        return
    results = {"one process": measure(arguments.calls)}
    with tempfile.TemporaryDirectory(prefix="tamis-metrics-bench-") as directory:
        child = subprocess.run(
            [sys.executable, "-m", "bench.metrics_bench", "--child", "--calls", str(arguments.calls)],
            cwd=ROOT,
            env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": directory},
            capture_output=True,
            text=True,
            check=True,
        )
    results["multiprocess"] = json.loads(child.stdout.strip().splitlines()[-1])
    for mode, numbers in results.items():
        print(
            f"{mode:>12}: hooks {numbers['hooks_per_unary_call_us']:.1f} µs per unary call "
            f"(judging its listing: {numbers['evaluate_one_listing_us']:.0f} µs); "
            f"judged() on {BATCH} verdicts: {numbers['judged_per_batch_us']:.0f} µs"
        )
    print(f"written to {write('metrics_bench', results)}")


if __name__ == "__main__":
    main()
