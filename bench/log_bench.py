"""Cost of the verdict log: appending (per verdict, batched and single) and audit queries over a
large log, on SQLite and PostgreSQL.

    .venv/bin/python -m bench.log_bench [--rows 1000000] [--backends sqlite,postgresql]

Fills each log with --rows verdicts through the real append path in large batches (so the rows
form valid chains, with their index rows), then measures appends of 1, 100 and 1000 verdicts,
concurrent single-verdict appends (group commit), and newest-first queries (limit 50) by listing,
seller, policy, instrument, decision and deep pages. Prints a table and writes JSON under
bench/results/. The SQLite file and the PostgreSQL schema `tamis_log_bench` are kept for reruns
(--reuse skips the fill when the log already holds enough rows; --drop removes them at the end).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import threading
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg

from bench.latency import summary
from bench.results import ROOT, write
from tamis.engine import Evaluator, load_bundle
from tamis.engine.listing import validate_listing
from tamis.service.verdictlog import (
    AuditLog,
    Database,
    VerdictLog,
    VerdictQuery,
    VerdictRecord,
    open_database,
)
from tamis.service.verdictlog.records import canonical_json, request_digest

SAMPLES = ROOT / "tests" / "data" / "samples.jsonl"
PG_DSN = "postgresql://postgres@127.0.0.1:5432/test"
PG_SCHEMA = "tamis_log_bench"
LISTINGS_PER_VERDICT = 4  # each listing judged about four times
VERDICTS_PER_SELLER = 100
FILL_BATCH = 5000


class Synthesiser:
    """Makes records fast: the samples' verdicts with listing and seller ids spread over many."""

    def __init__(self, rows: int) -> None:
        bundle = load_bundle(ROOT / "policies")
        self.bundle = bundle
        evaluator = Evaluator(bundle)
        listings = [json.loads(line) for line in SAMPLES.read_text().splitlines() if line.strip()]
        fields = bundle.policy_set.fields
        self.templates = []
        for listing in listings:
            verdict = evaluator.evaluate(listing, date(2025, 11, 20))
            self.templates.append(
                (validate_listing(listing, fields=fields), VerdictRecord.of(verdict, listing, "bench"))
            )
        evaluator.close()
        self.listings = max(rows // LISTINGS_PER_VERDICT, 1)
        self.sellers = max(rows // VERDICTS_PER_SELLER, 1)

    def record(self, n: int) -> VerdictRecord:
        listing, template = self.templates[n % len(self.templates)]
        listing_id, seller_id = f"L{n % self.listings:07d}", f"S{n % self.sellers:05d}"
        request = canonical_json(
            {**listing, "id": listing_id, "seller": {**listing.get("seller", {}), "id": seller_id}}
        )
        return dataclasses.replace(
            template,
            listing_id=listing_id,
            seller_id=seller_id,
            request=request,
            request_hash=request_digest(request),
            index=None,
        )


def location_for(backend: str, sqlite_path: Path, dsn: str) -> str:
    if backend == "sqlite":
        return f"sqlite:{sqlite_path}"
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA IF NOT EXISTS {PG_SCHEMA}")
    return f"{dsn}{'&' if '?' in dsn else '?'}options={quote(f'-csearch_path={PG_SCHEMA}')}"


def count(database: Database) -> int:
    session = database.connect()
    try:
        return int(session.all("SELECT count(*) FROM verdicts")[0][0])
    finally:
        session.close()


def fill(log: VerdictLog, synthesiser: Synthesiser, start: int, rows: int) -> float:
    started = time.perf_counter()
    for first in range(start, rows, FILL_BATCH):
        log.append([synthesiser.record(n) for n in range(first, min(first + FILL_BATCH, rows))])
        if (first // FILL_BATCH) % 20 == 0:
            print(f"  filled {first + FILL_BATCH:,} / {rows:,}", flush=True)
    return time.perf_counter() - started


def measure_appends(log: VerdictLog, synthesiser: Synthesiser, base: int) -> dict[str, Any]:
    results: dict[str, Any] = {}
    n = base
    for size, repeats in ((1, 300), (100, 30), (1000, 10)):
        samples = []
        for _ in range(repeats):
            batch = [synthesiser.record(n + i) for i in range(size)]
            n += size
            started = time.perf_counter()
            log.append(batch)
            samples.append(time.perf_counter() - started)
        stats = summary(samples)
        stats["per_verdict_us"] = stats["mean_ms"] * 1000 / size
        results[f"batch_{size}"] = stats
    threads, per_thread = 8, 100
    commits_before = log.commits
    latencies: list[float] = []
    lock = threading.Lock()

    def unary(offset: int) -> None:
        for i in range(per_thread):
            record = synthesiser.record(offset + i)
            started = time.perf_counter()
            log.append([record])
            with lock:
                latencies.append(time.perf_counter() - started)

    workers = [threading.Thread(target=unary, args=(n + t * per_thread,)) for t in range(threads)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - started
    stats = summary(latencies)
    stats["verdicts_per_s"] = threads * per_thread / elapsed
    stats["verdicts_per_commit"] = threads * per_thread / max(log.commits - commits_before, 1)
    results[f"concurrent_{threads}x1"] = stats
    return results


def measure_queries(audit: AuditLog, synthesiser: Synthesiser, rows: int) -> dict[str, Any]:
    rng = random.Random(7)
    deep = _deep_cursor(audit, rows)
    kinds: dict[str, Callable[[], tuple[VerdictQuery, str | None]]] = {
        "listing": lambda: (VerdictQuery(listing_id=f"L{rng.randrange(synthesiser.listings):07d}"), None),
        "seller": lambda: (VerdictQuery(seller_id=f"S{rng.randrange(synthesiser.sellers):05d}"), None),
        "policy (1 in 12)": lambda: (VerdictQuery(policy="eu.tpd.17.snus"), None),
        "policy (10 in 12)": lambda: (VerdictQuery(policy="eu.dsa.30.trader-traceability"), None),
        "policy, deep page": lambda: (VerdictQuery(policy="eu.tpd.17.snus"), deep),
        "instrument": lambda: (VerdictQuery(instrument="celex:32014L0040"), None),
        "instrument+article": lambda: (VerdictQuery(instrument="celex:32014L0040", article="17"), None),
        "decision": lambda: (VerdictQuery(decision="flag"), None),
        "seller+decision": lambda: (
            VerdictQuery(seller_id=f"S{rng.randrange(synthesiser.sellers):05d}", decision="block"),
            None,
        ),
        "everything, deep page": lambda: (VerdictQuery(), deep),
    }
    results = {}
    for name, make in kinds.items():
        samples = []
        found = 0
        for _ in range(100):
            query, after = make()
            started = time.perf_counter()
            page = audit.query(query, limit=50, after=after)
            samples.append(time.perf_counter() - started)
            found += len(page.verdicts)
        stats = summary(samples)
        stats["rows_per_page"] = found / len(samples)
        results[name] = stats
    return results


def _deep_cursor(audit: AuditLog, rows: int) -> str:
    """An id about half-way down the log: later pages start there."""
    page = audit.query(VerdictQuery(), limit=1000)
    cursor = page.next_cursor
    for _ in range(min(rows // 2000, 200)):
        if cursor is None:
            break
        page = audit.query(VerdictQuery(), limit=1000, after=cursor)
        cursor = page.next_cursor or cursor
    assert cursor is not None
    return cursor


def run_backend(backend: str, arguments: argparse.Namespace, synthesiser: Synthesiser) -> dict[str, Any]:
    location = location_for(backend, arguments.sqlite_path, arguments.pg_dsn)
    database = open_database(location)
    audit = AuditLog(database)
    log = VerdictLog(database, f"bench-{backend}")
    log.store_bundle(synthesiser.bundle)
    present = count(database)
    result: dict[str, Any] = {"backend": backend}
    if present < arguments.rows or not arguments.reuse:
        print(
            f"{backend}: filling {arguments.rows - (present if arguments.reuse else 0):,} verdicts",
            flush=True,
        )
        seconds = fill(log, synthesiser, present if arguments.reuse else 0, arguments.rows)
        added = arguments.rows - (present if arguments.reuse else 0)
        result["fill"] = {"verdicts": added, "seconds": seconds, "verdicts_per_s": added / seconds}
    total = count(database)
    result["verdicts_in_log"] = total
    print(f"{backend}: {total:,} verdicts; measuring appends", flush=True)
    result["append"] = measure_appends(log, synthesiser, total)
    print(f"{backend}: measuring queries", flush=True)
    result["query"] = measure_queries(audit, synthesiser, total)
    if arguments.verify:
        started = time.perf_counter()
        report = audit.verify()
        result["verify"] = {
            "seconds": time.perf_counter() - started,
            "ok": report.ok,
            "verdicts": report.verdicts,
        }
    log.close()
    audit.close()
    if arguments.drop:
        if backend == "sqlite":
            for suffix in ("", "-wal", "-shm"):
                Path(f"{arguments.sqlite_path}{suffix}").unlink(missing_ok=True)
        else:
            with psycopg.connect(arguments.pg_dsn, autocommit=True) as admin:
                admin.execute(f"DROP SCHEMA {PG_SCHEMA} CASCADE")
    return result


def print_table(results: list[dict[str, Any]]) -> None:
    for result in results:
        print(f"\n== {result['backend']}: {result['verdicts_in_log']:,} verdicts in the log")
        if "fill" in result:
            fill_stats = result["fill"]
            print(
                f"fill: {fill_stats['verdicts']:,} in {fill_stats['seconds']:.0f}s "
                f"({fill_stats['verdicts_per_s']:,.0f}/s)"
            )
        print(f"{'append':<24}{'mean ms':>10}{'p50 ms':>10}{'p99 ms':>10}{'µs/verdict':>12}")
        for name, stats in result["append"].items():
            extra = (
                f"{stats['per_verdict_us']:>12.0f}"
                if "per_verdict_us" in stats
                else f"  {stats['verdicts_per_s']:,.0f}/s, {stats['verdicts_per_commit']:.1f}/commit"
            )
            print(
                f"{name:<24}{stats['mean_ms']:>10.2f}{stats['p50_ms']:>10.2f}{stats['p99_ms']:>10.2f}{extra}"
            )
        print(f"{'query (limit 50)':<24}{'mean ms':>10}{'p50 ms':>10}{'p99 ms':>10}{'rows':>12}")
        for name, stats in result["query"].items():
            print(
                f"{name:<24}{stats['mean_ms']:>10.2f}{stats['p50_ms']:>10.2f}{stats['p99_ms']:>10.2f}"
                f"{stats['rows_per_page']:>12.1f}"
            )
        if "verify" in result:
            verify = result["verify"]
            print(f"verify: {verify['verdicts']:,} verdicts in {verify['seconds']:.1f}s, ok={verify['ok']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--sqlite-path", type=Path, default=ROOT / "var" / "log_bench.sqlite3")
    parser.add_argument("--pg-dsn", default=PG_DSN)
    parser.add_argument("--reuse", action="store_true", help="keep the rows already in the log")
    parser.add_argument("--verify", action="store_true", help="also time a full verify")
    parser.add_argument("--drop", action="store_true", help="remove the bench logs at the end")
    arguments = parser.parse_args()
    synthesiser = Synthesiser(arguments.rows)
    results = [run_backend(backend, arguments, synthesiser) for backend in arguments.backends.split(",")]
    print_table(results)
    print(f"\nwrote {write('log_bench', {'rows': arguments.rows, 'results': results})}")


if __name__ == "__main__":
    main()
