"""Load generator for the gRPC service: unary latency at fixed rates, the highest sustainable
rate, and streaming throughput, against `tamis serve` with 1 and 2 workers.

    .venv/bin/python -m bench.grpc_load [--workers 1 2] [--duration 5] [--target HOST:PORT]

Starts `tamis serve` itself (on a free port, bundled policies, default logging) unless
--target names a running server. Unary calls are sent open-loop on a fixed schedule and each
latency is measured from the moment the call was due, so a server that falls behind is
charged for the queue it builds (no coordinated omission). A rate is sustainable when every
call succeeds, the server keeps up (at least 98% of the rate completes) and p99 stays under
--max-p99 ms (no queue building up). Streams send batches as fast as the server answers,
several messages in flight per stream, one stream per connection.

The client runs in this process, on the same cores as the server (its CPU use is reported
beside each result), and Python's gRPC stack has a cost of its own: the same unary schedule
is also run against a reference server whose handler does nothing (--reference), so that
what Tamis adds can be told from what the stack, the client and the machine cost.

Prints a table and writes JSON (with core count and versions) under bench/results/.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import multiprocessing
import os
import re
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import json_format
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from bench.latency import percentile
from bench.results import ROOT, machine, write
from tamis.service.server.config import ServeConfig
from tamis.v1 import listing_pb2, policy_service_pb2, policy_service_pb2_grpc

SAMPLES = ROOT / "tests" / "data" / "samples.jsonl"
AS_OF = "2025-11-20"
CONNECTIONS = 8

#: Ordinary products: most of a real catalogue matches no policy.
BENIGN = [
    ("Chaussures de running homme, amorti léger", "Sports > Running", {"weight_kg": 0.6}),
    ("Lampe de bureau LED orientable, 3 intensités", "Maison > Luminaires", {"ce_marking": True}),
    ("Poêle en fonte 28 cm, tous feux dont induction", "Cuisine > Poêles", {"material": "fonte"}),
    ("Sac à dos randonnée 30 L imperméable", "Sports > Randonnée", {"volume_ml": 30000}),
    ("Puzzle 1000 pièces paysage de montagne", "Jouets > Puzzles", {"age_min": 12}),
    ("Crème hydratante visage 50 ml peaux sèches", "Beauté > Soins", {"volume_ml": 50}),
    ("Câble USB-C vers USB-C 2 m, charge rapide", "High-tech > Câbles", {}),
    ("Roman policier, édition poche", "Livres > Policier", {}),
]


def catalogue(size: int, prohibited_share: float = 0.2) -> list[dict[str, Any]]:
    """`size` listings: samples (mostly prohibited products) mixed into ordinary ones."""
    samples = [json.loads(line) for line in SAMPLES.read_text(encoding="utf-8").splitlines() if line.strip()]
    trader = samples[1]["seller"]
    listings = []
    for number in range(size):
        if number % round(1 / prohibited_share) == 0:
            listing = {**samples[number % len(samples)], "id": f"bench-{number}"}
        else:
            title, category, attributes = BENIGN[number % len(BENIGN)]
            listing = {
                "id": f"bench-{number}",
                "title": f"{title} (réf. {number})",
                "description": "Produit neuf, livré sous 48 h. Garantie 2 ans.",
                "category": category,
                "price": {"amount": 10 + number % 90, "currency": "EUR"},
                "attributes": attributes,
                "seller": trader,
                "ship_to": ["FR", "BE"] if number % 3 else ["DE"],
            }
        listings.append(listing)
    return listings


def proto(listing: dict[str, Any]) -> listing_pb2.Listing:
    return json_format.ParseDict(listing, listing_pb2.Listing())


class ClientCpu:
    """CPU seconds this process used over a step, as a share of one core."""

    def __enter__(self) -> ClientCpu:
        self.started = time.perf_counter()
        self.cpu = _cpu()
        return self

    def __exit__(self, *exc: object) -> None:
        self.share = (_cpu() - self.cpu) / max(time.perf_counter() - self.started, 1e-9)


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# --- the server ----------------------------------------------------------------------------------


#: The worker index in a JSON log line (orjson writes it compact, json.dumps with a space).
_WORKER = re.compile(r'"worker": ?(\d+)')
#: Request lines per worker so far (the server this script started), or None (--target).
Requests = Callable[[], dict[int, int]] | None


def shares(requests: Requests, before: dict[int, int]) -> list[float]:
    """Each worker's share (%) of the requests logged since `before`: the kernel hands each new
    connection to a worker at random (SO_REUSEPORT hashes it), so a few connections can load one
    worker far more than the other, and the busier one then limits the figure."""
    if requests is None:
        return []
    now = requests()
    counts = [now.get(worker, 0) - before.get(worker, 0) for worker in sorted(now)]
    total = sum(counts)
    return [round(100 * count / total, 1) for count in counts] if total else []


class Server:
    """`tamis serve --workers N` on a free port, ready once every worker has loaded its bundle."""

    def __init__(self, workers: int, log: str, log_sync: str) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self._directory = tempfile.TemporaryDirectory(prefix="tamis-grpc-load-")
        if log == "sqlite":
            log = f"sqlite:{self._directory.name}/verdicts.sqlite3"
        self.process = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "tamis"),
                "serve",
                "--port",
                str(self.port),
                "--workers",
                str(workers),
                "--log",
                log,
                "--log-sync",
                log_sync,
                "--log-format",
                "json",
            ],
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.loaded = threading.Semaphore(0)
        self._lock = threading.Lock()
        self._requests: Counter[int] = Counter()
        threading.Thread(target=self._drain, daemon=True).start()
        for _ in range(workers):
            if not self.loaded.acquire(timeout=60):
                raise SystemExit("tamis serve did not start")

    def _drain(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            if '"bundle loaded"' in line:
                self.loaded.release()
            elif '"request"' in line and (worker := _WORKER.search(line)):
                with self._lock:
                    self._requests[int(worker.group(1))] += 1

    def requests(self) -> dict[int, int]:
        """Request lines logged so far by each worker (a unary call, or a stream's message)."""
        with self._lock:
            return dict(self._requests)

    def stop(self) -> int:
        self.process.terminate()
        code = self.process.wait(timeout=60)
        self._directory.cleanup()
        return code


# --- measurements --------------------------------------------------------------------------------


@dataclass
class UnaryStep:
    workers: int
    rate: float
    calls: int
    achieved: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    errors: dict[str, int]
    client_cpu: float
    sustainable: bool = False
    server: str = "tamis"
    worker_shares: list[float] = field(default_factory=list)


@dataclass
class StreamRun:
    workers: int
    streams: int
    batch: int
    window: int
    verdicts: int
    seconds: float
    verdicts_per_second: float
    message_p50_ms: float
    message_p99_ms: float
    errors: dict[str, int]
    client_cpu: float
    worker_shares: list[float] = field(default_factory=list)


@dataclass
class SerialRun:
    """Evaluate calls one after the other on one connection: the cost of a call, queue-free."""

    workers: int
    calls: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    client_cpu: float
    server: str = "tamis"


def serial_run(target: str, *, workers: int, duration: float, server: str) -> SerialRun:
    """One call in flight at a time for `duration` seconds (after a short warm-up), from a
    synchronous stub, the cheapest client Python's gRPC offers."""
    requests = [
        policy_service_pb2.EvaluateRequest(listing=proto(item), as_of=AS_OF) for item in catalogue(2000)
    ]
    with grpc.insecure_channel(target) as channel:
        evaluate = policy_service_pb2_grpc.PolicyServiceStub(channel).Evaluate
        for request in requests[:200]:
            evaluate(request, timeout=10)
        seconds: list[float] = []
        with ClientCpu() as cpu:
            stop_at = time.perf_counter() + duration
            while (started := time.perf_counter()) < stop_at:
                evaluate(requests[len(seconds) % len(requests)], timeout=10)
                seconds.append(time.perf_counter() - started)
    milliseconds = [1000 * t for t in seconds]
    return SerialRun(
        workers=workers,
        calls=len(seconds),
        p50_ms=round(percentile(milliseconds, 0.50), 3),
        p90_ms=round(percentile(milliseconds, 0.90), 3),
        p99_ms=round(percentile(milliseconds, 0.99), 3),
        client_cpu=round(cpu.share, 2),
        server=server,
    )


def channels(target: str, count: int = CONNECTIONS) -> list[grpc.aio.Channel]:
    """Separate connections, so that SO_REUSEPORT spreads them among the workers."""
    return [
        grpc.aio.insecure_channel(target, options=[("grpc.use_local_subchannel_pool", 1)])
        for _ in range(count)
    ]


async def wait_ready(target: str) -> None:
    async with grpc.aio.insecure_channel(target) as channel:
        stub: Any = health_pb2_grpc.HealthStub(channel)  # the stubs do not declare its methods
        await stub.Check(health_pb2.HealthCheckRequest(), timeout=30)


async def _unary_schedule(
    target: str, rate: float, duration: float, start_at: float, first: int
) -> tuple[list[float], dict[str, int], float]:
    """One client process's share of the schedule: latencies (s), errors, seconds elapsed."""
    listings = catalogue(2000)
    requests = [policy_service_pb2.EvaluateRequest(listing=proto(item), as_of=AS_OF) for item in listings]
    loop = asyncio.get_running_loop()
    connections = channels(target, CONNECTIONS // 2)
    stubs = [policy_service_pb2_grpc.PolicyServiceStub(channel) for channel in connections]
    latencies: list[float] = []
    errors: Counter[str] = Counter()

    async def call(number: int, due: float) -> None:
        try:
            await stubs[number % len(stubs)].Evaluate(requests[(first + number) % len(requests)], timeout=10)
        except grpc.aio.AioRpcError as error:
            errors[error.code().name] += 1
            return
        latencies.append(loop.time() - due)

    for stub in stubs:  # connect every channel before the clock starts
        await stub.Evaluate(requests[0], timeout=10)
    gc.freeze()
    await asyncio.sleep(max(0.0, start_at - time.time()))
    tasks = []
    start = loop.time()
    for number in range(int(rate * duration)):
        due = start + number / rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(call(number, due)))
    await asyncio.gather(*tasks)
    elapsed = loop.time() - start
    for channel in connections:
        await channel.close()
    return latencies, dict(errors), elapsed


def _client(target: str, rate: float, duration: float, start_at: float, first: int) -> tuple[Any, ...]:
    cpu = _cpu()
    latencies, errors, elapsed = asyncio.run(_unary_schedule(target, rate, duration, start_at, first))
    return latencies, errors, elapsed, _cpu() - cpu


def unary_step(
    pool: ProcessPoolExecutor, processes: int, target: str, *, workers: int, rate: float, duration: float
) -> UnaryStep:
    """`rate` calls per second for `duration` seconds, spread over `processes` client processes."""
    start_at = time.time() + 1.5  # every client connected and ready
    shares = [
        pool.submit(_client, target, rate / processes, duration, start_at, index * 100_000)
        for index in range(processes)
    ]
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    elapsed = cpu = 0.0
    for share in shares:
        got, failed, seconds, used = share.result()
        latencies += got
        errors.update(failed)
        elapsed, cpu = max(elapsed, seconds), cpu + used
    milliseconds = [1000 * latency for latency in latencies]
    return UnaryStep(
        workers=workers,
        rate=rate,
        calls=int(rate * duration),
        achieved=round(len(latencies) / elapsed, 1),
        p50_ms=round(percentile(milliseconds, 0.50), 3),
        p95_ms=round(percentile(milliseconds, 0.95), 3),
        p99_ms=round(percentile(milliseconds, 0.99), 3),
        max_ms=round(max(milliseconds, default=float("nan")), 3),
        errors=dict(errors),
        client_cpu=round(cpu / elapsed, 2),
    )


async def stream_run(
    target: str,
    workers: int,
    *,
    listings: list[listing_pb2.Listing],
    batch: int,
    streams: int,
    window: int,
    duration: float,
) -> StreamRun:
    loop = asyncio.get_running_loop()
    messages = [
        policy_service_pb2.EvaluateStreamRequest(listings=listings[start : start + batch], as_of=AS_OF)
        for start in range(0, len(listings) - batch + 1, batch)
    ]
    connections = channels(target, streams)
    errors: Counter[str] = Counter()
    counted: list[int] = []
    message_times: list[float] = []
    measuring = asyncio.Event()

    async def one_stream(channel: grpc.aio.Channel) -> None:
        call = policy_service_pb2_grpc.PolicyServiceStub(channel).EvaluateStream()
        slots = asyncio.Semaphore(window)
        sent_at: list[float] = []
        stop_at = loop.time() + duration + 1.0  # one second of warm-up, not counted

        async def writer() -> None:
            number = 0
            while loop.time() < stop_at:
                await slots.acquire()
                sent_at.append(loop.time())
                await call.write(messages[number % len(messages)])
                number += 1
            await call.done_writing()

        async def reader() -> None:
            received = 0
            while (response := await call.read()) is not grpc.aio.EOF:
                assert isinstance(response, policy_service_pb2.EvaluateStreamResponse)
                slots.release()
                if measuring.is_set():
                    counted.append(len(response.results))
                    message_times.append(loop.time() - sent_at[received])
                received += 1

        try:
            await asyncio.gather(writer(), reader())
        except grpc.aio.AioRpcError as error:
            errors[error.code().name] += 1

    with ClientCpu() as cpu:
        runs = [asyncio.create_task(one_stream(channel)) for channel in connections]
        await asyncio.sleep(1.0)
        measuring.set()
        started = loop.time()
        await asyncio.sleep(duration)
        measuring.clear()
        seconds = loop.time() - started
        await asyncio.gather(*runs)
    for channel in connections:
        await channel.close()
    verdicts = sum(counted)
    milliseconds = [1000 * t for t in message_times]
    return StreamRun(
        workers=workers,
        streams=streams,
        batch=batch,
        window=window,
        verdicts=verdicts,
        seconds=round(seconds, 2),
        verdicts_per_second=round(verdicts / seconds, 1),
        message_p50_ms=round(percentile(milliseconds, 0.5), 2),
        message_p99_ms=round(percentile(milliseconds, 0.99), 2),
        errors=dict(errors),
        client_cpu=round(cpu.share, 2),
    )


@dataclass
class Results:
    started: str
    machine: dict[str, Any]
    settings: dict[str, Any]
    unary: list[UnaryStep] = field(default_factory=list)
    highest_sustainable_rate: dict[str, float] = field(default_factory=dict)
    background_cores: list[float] = field(default_factory=list)
    streams: list[StreamRun] = field(default_factory=list)
    serial: list[SerialRun] = field(default_factory=list)


def measure_serial(
    arguments: argparse.Namespace, results: Results, *, workers: int, target: str, server: str
) -> None:
    asyncio.run(wait_ready(target))
    run = serial_run(target, workers=workers, duration=arguments.duration, server=server)
    results.serial.append(run)
    print_serial(run)


async def measure_streams(
    arguments: argparse.Namespace, results: Results, workers: int, target: str, requests: Requests
) -> None:
    await wait_ready(target)
    messages = [proto(item) for item in catalogue(2000)]
    for batch in arguments.batches:
        before = requests() if requests else {}
        run = await stream_run(
            target,
            workers,
            listings=messages,
            batch=batch,
            streams=arguments.streams * workers,
            window=arguments.window,
            duration=arguments.duration,
        )
        run.worker_shares = shares(requests, before)
        results.streams.append(run)
        print_stream(run)


def unary_steps(
    arguments: argparse.Namespace,
    results: Results,
    pool: ProcessPoolExecutor,
    *,
    workers: int,
    target: str,
    server: str,
    requests: Requests = None,
) -> None:
    """Rates in increasing order, until two in a row are not sustained."""
    asyncio.run(wait_ready(target))
    failed = 0
    for rate in arguments.rates:
        results.background_cores.append(background_cores())
        before = requests() if requests else {}
        step = unary_step(
            pool, arguments.client_processes, target, workers=workers, rate=rate, duration=arguments.duration
        )
        step.worker_shares = shares(requests, before)
        step.server = server
        step.sustainable = (
            not step.errors and step.achieved >= 0.98 * rate and step.p99_ms <= arguments.max_p99
        )
        results.unary.append(step)
        print_unary(step)
        failed = 0 if step.sustainable else failed + 1
        if failed == 2:
            break
    sustained = [
        s.rate for s in results.unary if s.server == server and s.workers == workers and s.sustainable
    ]
    key = f"{server}, {workers} worker{'s' if workers > 1 else ''}"
    results.highest_sustainable_rate[key] = max(sustained, default=0.0)


def background_cores() -> float:
    """Cores busy over one second, before a step starts: other work on a shared machine."""

    def sample() -> list[int]:
        with Path("/proc/stat").open(encoding="ascii") as stat:
            return [int(value) for value in stat.readline().split()[1:]]

    before = sample()
    time.sleep(1.0)
    delta = [after - then for after, then in zip(sample(), before, strict=True)]
    idle = delta[3] + delta[4]
    return round((sum(delta) - idle) / max(sum(delta), 1) * (os.cpu_count() or 1), 2)


class NullPolicyService(policy_service_pb2_grpc.PolicyServiceServicer):
    """The reference: a PolicyService whose Evaluate does no work at all."""

    def Evaluate(
        self, request: policy_service_pb2.EvaluateRequest, context: grpc.ServicerContext
    ) -> policy_service_pb2.EvaluateResponse:
        return policy_service_pb2.EvaluateResponse()


def serve_null(port: int) -> None:
    """The empty handler served the way `tamis serve` serves (one process of it): a synchronous
    gRPC server on a pool of ServeConfig.threads threads, with the same message limits."""
    config = ServeConfig()
    server = grpc.server(
        ThreadPoolExecutor(max_workers=config.threads),
        options=[
            ("grpc.max_receive_message_length", config.max_message_bytes),
            ("grpc.max_send_message_length", config.max_message_bytes),
        ],
    )
    null = NullPolicyService()  # type: ignore[abstract]  # only Evaluate is measured
    policy_service_pb2_grpc.add_PolicyServiceServicer_to_server(null, server)
    health_pb2_grpc.add_HealthServicer_to_server(health.HealthServicer(), server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    print("ready", flush=True)
    server.wait_for_termination()


def reference(arguments: argparse.Namespace, results: Results, pool: ProcessPoolExecutor) -> None:
    """The unary schedule against the do-nothing server, in a process of its own."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.grpc_load", "--serve-null", str(port)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    process.stdout.readline()
    print("reference: an empty Evaluate handler (served like tamis serve, one process)", flush=True)
    target = f"127.0.0.1:{port}"
    try:
        measure_serial(arguments, results, workers=1, target=target, server="empty handler")
        unary_steps(arguments, results, pool, workers=1, target=target, server="empty handler")
    finally:
        process.terminate()
        process.wait(timeout=60)


def print_unary(step: UnaryStep) -> None:
    flag = "ok" if step.sustainable else "NOT sustained"
    print(
        f"  unary  {step.server}, workers={step.workers} "
        f"rate={step.rate:>6.0f}/s achieved={step.achieved:>7.1f}/s "
        f"p50={step.p50_ms:6.2f} p95={step.p95_ms:6.2f} p99={step.p99_ms:7.2f} max={step.max_ms:7.2f} ms "
        f"errors={sum(step.errors.values())} client_cpu={step.client_cpu:.2f}  {flag}"
        f"{_shown_shares(step.worker_shares)}",
        flush=True,
    )


def _shown_shares(worker_shares: list[float]) -> str:
    return (
        f"  workers' shares {'/'.join(f'{share:.0f}' for share in worker_shares)}%" if worker_shares else ""
    )


def print_serial(run: SerialRun) -> None:
    print(
        f"  one call in flight  {run.server}, workers={run.workers} calls={run.calls} "
        f"p50={run.p50_ms:6.3f} p90={run.p90_ms:6.3f} p99={run.p99_ms:7.3f} ms "
        f"client_cpu={run.client_cpu:.2f}",
        flush=True,
    )


def print_stream(run: StreamRun) -> None:
    print(
        f"  stream workers={run.workers} streams={run.streams} batch={run.batch:>4} window={run.window} "
        f"{run.verdicts_per_second:>9,.0f} verdicts/s  message p50={run.message_p50_ms:.1f} "
        f"p99={run.message_p99_ms:.1f} ms errors={sum(run.errors.values())} client_cpu={run.client_cpu:.2f}"
        f"{_shown_shares(run.worker_shares)}",
        flush=True,
    )


def durability(arguments: argparse.Namespace) -> str:
    """Which verdict log the figures were measured with, and how durable its commits were."""
    if arguments.target:
        return "log: as the running server was started"
    if arguments.log == "off":
        return "log: off"
    return f"log: {arguments.log}, log_sync {arguments.log_sync}"


def summary(results: Results, arguments: argparse.Namespace) -> str:
    lines = [
        "",
        f"tamis with {durability(arguments)}",
        "",
        "| server | highest sustainable unary rate | p50 / p99 at 1,000/s | best streaming |",
        "|---|---|---|---|",
    ]
    for key, rate in results.highest_sustainable_rate.items():
        server, workers = key.split(", ")[0], int(key.split(", ")[1].split()[0])
        at_1000 = next(
            (s for s in results.unary if s.server == server and s.workers == workers and s.rate == 1000), None
        )
        best = max(
            (r for r in results.streams if server == "tamis" and r.workers == workers),
            key=lambda r: r.verdicts_per_second,
            default=None,
        )
        lines.append(
            f"| {key} | {rate:,.0f}/s "
            f"| {f'{at_1000.p50_ms:.2f} / {at_1000.p99_ms:.2f} ms' if at_1000 else '–'} "
            f"| {f'{best.verdicts_per_second:,.0f} verdicts/s (batch {best.batch})' if best else '–'} |"
        )
    empty = next((run for run in results.serial if run.server == "empty handler"), None)
    for run in results.serial:
        if run.server == "tamis":
            ratio = (
                f" = {run.p50_ms / empty.p50_ms:.2f}x the empty handler's {empty.p50_ms:.3f} ms"
                if empty
                else ""
            )
            lines.append(
                f"\nEvaluate, one call in flight, {run.workers} worker(s): p50 {run.p50_ms:.3f} ms{ratio}"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--target", help="a running server (HOST:PORT) instead of starting one")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per step")
    parser.add_argument("--rates", type=float, nargs="+", default=[250, 500, 1000, 1500, 2000, 3000])
    parser.add_argument("--max-p99", type=float, default=100.0, help="p99 (ms) a sustainable rate must keep")
    parser.add_argument("--no-reference", action="store_true", help="skip the empty-handler reference")
    parser.add_argument("--serve-null", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--batches", type=int, nargs="+", default=[100, 250, 500])
    parser.add_argument("--streams", type=int, default=2, help="streams per worker")
    parser.add_argument("--client-processes", type=int, default=2, help="processes sending unary calls")
    parser.add_argument("--window", type=int, default=4, help="messages in flight per stream")
    parser.add_argument(
        "--log",
        default="sqlite",
        help="the server's verdict log: sqlite (a fresh file, the default), off, or a location",
    )
    parser.add_argument(
        "--log-sync",
        choices=("full", "normal"),
        default="full",
        help="the server's log_sync: full (fsync at each commit, the default) or normal (at checkpoints)",
    )
    arguments = parser.parse_args()
    if arguments.serve_null:
        serve_null(arguments.serve_null)
        return
    results = Results(datetime.now(UTC).isoformat(timespec="seconds"), machine(), vars(arguments))
    print(
        f"{results.machine['cores']} cores, Python {results.machine['python']}, {results.machine['versions']}"
    )
    pool = ProcessPoolExecutor(arguments.client_processes, mp_context=multiprocessing.get_context("spawn"))
    for workers in arguments.workers:
        server = None if arguments.target else Server(workers, arguments.log, arguments.log_sync)
        target = arguments.target or f"127.0.0.1:{server.port if server else 0}"
        print(f"workers={workers} ({target}) {durability(arguments)}", flush=True)
        try:
            measure_serial(arguments, results, workers=workers, target=target, server="tamis")
            requests = server.requests if server is not None else None
            unary_steps(
                arguments, results, pool, workers=workers, target=target, server="tamis", requests=requests
            )
            asyncio.run(measure_streams(arguments, results, workers, target, requests))
        finally:
            if server is not None:
                server.stop()
    if not arguments.no_reference:
        reference(arguments, results, pool)
    pool.shutdown()
    busy = max(results.background_cores, default=0.0)
    if busy > 0.2:
        print(f"\nwarning: up to {busy} cores were busy with other work before a step; results are noisy")
    print(summary(results, arguments))
    print(f"\nwrote {write('grpc', asdict(results)).relative_to(ROOT)}")


if __name__ == "__main__":
    main()
