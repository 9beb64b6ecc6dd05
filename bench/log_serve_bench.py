"""What the verdict log adds to the service: Evaluate latency and stream throughput with
`--log off`, the embedded SQLite log and PostgreSQL.

    .venv/bin/python -m bench.log_serve_bench [--calls 2000] [--logs off,sqlite,postgresql]

For each log, starts `tamis serve` (one worker, bundled policies, request logs off) on a free
port with a fresh log, then measures, with clients in this process on the same two cores:
unary Evaluate one call at a time (latency), unary from 8 threads at once (throughput, and how
many verdicts share a commit), and EvaluateStream with batches of 200 listings (listings/s).
Also reports the server's CPU time per streamed listing, which other processes on the machine
disturb far less than latencies. Prints a table and writes JSON under bench/results/.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import grpc
import psycopg
from google.protobuf import json_format
from grpc_health.v1 import health_pb2, health_pb2_grpc

from bench.latency import summary
from bench.results import ROOT, write
from tamis.v1 import audit_pb2, audit_pb2_grpc, listing_pb2, policy_service_pb2, policy_service_pb2_grpc

SAMPLES = ROOT / "tests" / "data" / "samples.jsonl"
PG_DSN = "postgresql://postgres@127.0.0.1:5432/test"
PG_SCHEMA = "tamis_serve_bench"
AS_OF = "2025-11-20"
THREADS = 8
BATCH = 200


def listings(count: int) -> list[listing_pb2.Listing]:
    base = [json.loads(line) for line in SAMPLES.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [
        json_format.ParseDict({**base[n % len(base)], "id": f"b-{n}"}, listing_pb2.Listing())
        for n in range(count)
    ]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def log_location(kind: str, directory: Path) -> str:
    if kind in ("off", "sqlite"):
        return "off" if kind == "off" else f"sqlite:{directory / 'verdicts.sqlite3'}"
    with psycopg.connect(PG_DSN, autocommit=True) as admin:
        admin.execute(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE")
        admin.execute(f"CREATE SCHEMA {PG_SCHEMA}")
    return f"{PG_DSN}?options={quote(f'-csearch_path={PG_SCHEMA}')}"


class Server:
    """`tamis serve` in a subprocess, ready once health says SERVING."""

    def __init__(self, log: str) -> None:
        self.port = free_port()
        command = [str(Path(sys.executable).parent / "tamis"), "serve", "--host", "127.0.0.1"]
        command += ["--port", str(self.port), "--log", log, "--log-level", "warning"]
        self.process = subprocess.Popen(
            command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self.channel = grpc.insecure_channel(f"127.0.0.1:{self.port}")
        health: Any = health_pb2_grpc.HealthStub(self.channel)  # the stubs do not declare Check
        for _ in range(600):
            try:
                if health.Check(health_pb2.HealthCheckRequest(), timeout=1).status == 1:
                    return
            except grpc.RpcError:
                pass
            time.sleep(0.1)
        raise RuntimeError("tamis serve did not become SERVING")

    def cpu_seconds(self) -> float:
        """User + system CPU the server process has used so far (Linux /proc)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.channel.close()
        self.process.terminate()
        self.process.wait(timeout=60)


def unary_sequential(server: Server, items: list[listing_pb2.Listing]) -> dict[str, float]:
    stub = policy_service_pb2_grpc.PolicyServiceStub(server.channel)
    for listing in items[:100]:  # warm-up
        stub.Evaluate(policy_service_pb2.EvaluateRequest(listing=listing, as_of=AS_OF), timeout=30)
    latencies = []
    for listing in items:
        started = time.perf_counter()
        stub.Evaluate(policy_service_pb2.EvaluateRequest(listing=listing, as_of=AS_OF), timeout=30)
        latencies.append(time.perf_counter() - started)
    return summary(latencies)


def unary_concurrent(server: Server, items: list[listing_pb2.Listing]) -> dict[str, float]:
    latencies: list[float] = []
    lock = threading.Lock()
    share = len(items) // THREADS

    def client(part: list[listing_pb2.Listing]) -> None:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            stub = policy_service_pb2_grpc.PolicyServiceStub(channel)
            for listing in part:
                started = time.perf_counter()
                stub.Evaluate(policy_service_pb2.EvaluateRequest(listing=listing, as_of=AS_OF), timeout=30)
                with lock:
                    latencies.append(time.perf_counter() - started)

    threads = [
        threading.Thread(target=client, args=(items[i * share : (i + 1) * share],)) for i in range(THREADS)
    ]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result = summary(latencies)
    result["calls_per_s"] = len(latencies) / (time.perf_counter() - started)
    return result


def streaming(server: Server, items: list[listing_pb2.Listing]) -> dict[str, float]:
    stub = policy_service_pb2_grpc.PolicyServiceStub(server.channel)

    def batches() -> Iterator[policy_service_pb2.EvaluateStreamRequest]:
        for start in range(0, len(items), BATCH):
            yield policy_service_pb2.EvaluateStreamRequest(listings=items[start : start + BATCH], as_of=AS_OF)

    started, cpu = time.perf_counter(), server.cpu_seconds()
    judged = sum(len(response.results) for response in stub.EvaluateStream(batches(), timeout=600))
    return {
        "listings": judged,
        "listings_per_s": judged / (time.perf_counter() - started),
        "server_cpu_us_per_listing": (server.cpu_seconds() - cpu) / judged * 1e6,
    }


def logged_count(server: Server) -> int:
    audit = audit_pb2_grpc.AuditServiceStub(server.channel)
    return int(audit.VerifyLog(audit_pb2.VerifyLogRequest(), timeout=600).verdicts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--logs", default="off,sqlite,postgresql")
    arguments = parser.parse_args()
    items = listings(max(arguments.calls, 10 * BATCH))
    results: dict[str, Any] = {}
    for kind in arguments.logs.split(","):
        with tempfile.TemporaryDirectory() as directory:
            server = Server(log_location(kind, Path(directory)))
            try:
                print(f"{kind}: measuring", flush=True)
                result: dict[str, Any] = {
                    "sequential": unary_sequential(server, items[: arguments.calls]),
                    "concurrent": unary_concurrent(server, items[: arguments.calls]),
                    "stream": streaming(server, items),
                }
                if kind != "off":
                    result["logged_and_verified"] = logged_count(server)
                results[kind] = result
            finally:
                server.stop()
    print(
        f"\n{'log':<12}{'1 client p50':>14}{'p99':>9}{'mean':>9}{'8 clients/s':>13}{'p50':>9}{'p99':>9}"
        f"{'stream/s':>11}{'server CPU/listing':>20}"
    )
    for kind, result in results.items():
        seq, con, stream = result["sequential"], result["concurrent"], result["stream"]
        print(
            f"{kind:<12}{seq['p50_ms']:>12.2f}ms{seq['p99_ms']:>7.2f}ms{seq['mean_ms']:>7.2f}ms"
            f"{con['calls_per_s']:>13,.0f}{con['p50_ms']:>7.2f}ms{con['p99_ms']:>7.2f}ms"
            f"{stream['listings_per_s']:>11,.0f}{stream['server_cpu_us_per_listing']:>18,.0f}µs"
        )
    print(f"\nwrote {write('log_serve_bench', {'calls': arguments.calls, 'results': results})}")


if __name__ == "__main__":
    main()
