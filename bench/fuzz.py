"""Fuzzing: hostile listings through the engine, mutated policy files through `tamis check`.

    python -m bench.fuzz [--listings 1000000] [--policies 10000] [--batch 200] [--seed 1]
                         [--timeout 60] [--check-every 10] [--out FILE]
    python -m bench.fuzz --replay listings:N | policies:N    # print input N as JSON

Listings: batches generated from a seed (samples and corpus listings with hostile numbers stated
or written in their text, runs of 20,000 digits, odd JSON in any field, stray code points,
listings stuffed with every lexicon) go through Evaluator.evaluate_many. Each result must be a
verdict or a contract error; every --check-every'th batch is judged again one listing at a time
and must give the same results (and the times of those single listings give the slowest inputs).

Policies: one shipped policy, lexicon, list, instrument or attributes file is mutated (lines
dropped, doubled, swapped or cut; values replaced by hostile numbers, tags, aliases, alias bombs,
catastrophic regular expressions; stray characters) into a small pack with what it refers to,
which goes through what `tamis check` does (load, regular-expression cost, lint) and, when it
loads, through an evaluator over the sample listings. A refusal (PolicySetError) is the expected
answer to a broken file; anything else raised is an exception.

Each part runs in a child process watched by this one: a child that dies (a crash of the C
engine) or does not finish an input within --timeout seconds (a hang) is recorded with the
number of that input, which `--replay` regenerates, and a new child goes on with the next one.
Progress on stderr; results printed and written as JSON under bench/results/.
"""

from __future__ import annotations

import argparse
import copy
import heapq
import multiprocessing
import random
import sys
import time
import traceback
from collections import Counter
from collections.abc import Callable
from datetime import date
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import orjson

from bench.corpus import generate
from bench.results import write
from tamis.engine import Evaluator, ListingError, PolicySetError, Verdict, load_bundle
from tamis.engine.lint import lint
from tamis.engine.policyset import PolicySet, load_policy_set
from tamis.engine.regexcost import measure, pack_patterns
from tamis.engine.sources import SourceTree, read_tree

DAY = date(2025, 11, 20)
POLICIES = Path("policies")
SAMPLES = Path("tests/data/samples.jsonl")  # the design's sample listings
_RESTART_POLICIES_EVERY = 500  # the C core keeps a little of every ruleset it frees

EDGE_NUMBERS: list[Any] = [
    1e-7, -1e-7, 1e16, -1e16, 1e15, 1e-300, 5e-324, 1e308, -0.0, 0.0, 2**53 + 1, 2**63, 2**64,
    10**400, -(10**400), float("nan"), float("inf"), -float("inf"), True, False, 999_999_999_999_999.9,
]  # fmt: skip
NUMERIC = ("height_cm", "laser_power_mw", "nicotine_mg_ml", "volume_ml", "blade_length_cm", "age_min")
FIELDS = ("id", "title", "description", "category", "brand", "gtin", "marketplace", "price", "seller",
          "attributes", "ship_to", "listed_at", "unknown")  # fmt: skip
UNITS = ("mW", "mw", "W", "mg/ml", "mg", "ml", "cm", "%", "J", "joules")
STRAY = "\u0000\u0007\u001b[31m\u200b\u200d\u202e\u2066\u034f\ufe0f\u3164\U000e0041\ud800\uffff"


# --- listings ----------------------------------------------------------------------------------


def samples() -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in SAMPLES.read_text(encoding="utf-8").splitlines() if line.strip()]


class ListingMaker:
    """Hostile listings, the same for the same (seed, batch number)."""

    def __init__(self, seed: int, lexicon_terms: list[str]) -> None:
        self.seed = seed
        self.samples = samples()
        self.corpus = generate(2_000, seed=seed)
        self.terms = lexicon_terms

    def batch(self, number: int, size: int) -> list[tuple[str, Any]]:
        """(recipe, listing) pairs of batch `number`."""
        rng = random.Random(f"{self.seed}:listings:{number}")
        recipes: list[tuple[str, Callable[[random.Random], Any]]] = [
            ("numbers", self._numbers),
            ("corpus", self._corpus),
            ("odd-json", self._odd_json),
            ("stray-characters", self._stray),
            ("long-runs", self._long_runs),
            ("crowded", self._crowded),
        ]
        weights = [40, 30, 15, 10, 4, 1]
        return [(name, make(rng)) for name, make in rng.choices(recipes, weights, k=size)]

    def _base(self, rng: random.Random) -> dict[str, Any]:
        source = rng.choice(self.samples) if rng.random() < 0.6 else rng.choice(self.corpus)
        listing = copy.deepcopy(source)
        listing["id"] = f"f-{rng.randrange(10**9)}"
        return listing

    def _number(self, rng: random.Random) -> Any:
        roll = rng.random()
        if roll < 0.4:
            return rng.choice(EDGE_NUMBERS)
        if roll < 0.7:
            return rng.uniform(-1, 1) * 10.0 ** rng.randint(-320, 308)
        if roll < 0.9:
            return rng.randint(-(10**20), 10**20)
        return str(rng.random())

    def _number_words(self, rng: random.Random) -> str:
        whole = rng.choice(["0", "1", "5", "0000000", "99999999999999999999", "1" * rng.randint(1, 400)])
        fraction = rng.choice(["", ",0000001", ".5", ",", ".", "e16", "e-7", ",0" * rng.randint(1, 30)])
        return f" {whole}{fraction}{rng.choice(['', ' ', '  '])}{rng.choice(UNITS)}"

    def _numbers(self, rng: random.Random) -> dict[str, Any]:
        listing = self._base(rng)
        attributes = listing.get("attributes") or {}
        listing["attributes"] = attributes
        for name in rng.sample(NUMERIC, rng.randint(0, 3)):
            attributes[name] = self._number(rng)
        for field in rng.sample(["title", "description"], rng.randint(0, 2)):
            listing[field] = (listing.get(field) or "x") + "".join(
                self._number_words(rng) for _ in range(rng.randint(1, 4))
            )
        if rng.random() < 0.2:
            listing["price"] = {"amount": self._number(rng), "currency": "EUR"}
        return listing

    def _corpus(self, rng: random.Random) -> dict[str, Any]:
        listing = copy.deepcopy(rng.choice(self.corpus))
        listing["id"] = f"c-{rng.randrange(10**9)}"
        return listing

    def _json(self, rng: random.Random, depth: int = 0) -> Any:
        roll = rng.random()
        if depth > 3 or roll < 0.5:
            return rng.choice([None, True, False, "", "x" * rng.randint(0, 50), self._number(rng), "FR"])
        if roll < 0.75:
            return [self._json(rng, depth + 1) for _ in range(rng.randint(0, 4))]
        return {rng.choice(["a", "id", "amount", "", "é"]): self._json(rng, depth + 1) for _ in range(3)}

    def _odd_json(self, rng: random.Random) -> Any:
        if rng.random() < 0.05:
            return self._json(rng)  # not even an object
        listing = self._base(rng)
        if rng.random() < 0.5:
            listing[rng.choice(FIELDS)] = self._json(rng)
        else:
            attributes = listing.get("attributes")
            listing["attributes"] = {**(attributes if isinstance(attributes, dict) else {})}
            name = rng.choice([*NUMERIC, "contains", "material", "laser_class", "ce_marking", "odd"])
            listing["attributes"][name] = self._json(rng)
        return listing

    def _stray(self, rng: random.Random) -> dict[str, Any]:
        listing = self._base(rng)
        title = list(listing["title"])
        for _ in range(rng.randint(1, 10)):
            title.insert(rng.randint(0, len(title)), rng.choice(STRAY))
        listing["title"] = "".join(title)
        if rng.random() < 0.3:
            listing["id"] = "".join(rng.choice(STRAY) for _ in range(5))
        return listing

    def _long_runs(self, rng: random.Random) -> dict[str, Any]:
        listing = self._base(rng)
        unit = rng.choice(["", *UNITS])
        run = rng.choice(["1", "1,", "1 ", "a", " ", "1.", f"1 {unit} ", "acide nitrique 1"])
        length = rng.randint(1_000, 19_990)
        listing[rng.choice(["title", "description"])] = (run * (length // len(run) + 1))[:length] + " " + unit
        return listing

    def _crowded(self, rng: random.Random) -> dict[str, Any]:
        listing = self._base(rng)
        terms = rng.sample(self.terms, min(len(self.terms), rng.randint(50, 600)))
        text = " . ".join(terms)[:20_000]
        for field in ("title", "description", "category", "brand"):
            listing[field] = text
        listing["ship_to"] = ["FR", "DE", "IT", "ES", "NL", "BE"]
        return listing


def _outcome(result: Any) -> Any:
    if isinstance(result, ListingError):
        return (_error_kind(result), str(result))
    if isinstance(result, Verdict):
        return result
    return ("not a result", type(result).__name__)


def _error_kind(error: ListingError) -> str:
    text = str(error)
    for marker, kind in (
        ("rule engine", "error: engine"),
        ("processor time to read", "error: time budget"),
        ("signals", "error: signals"),
    ):
        if marker in text:
            return kind
    return "error: too large" if error.too_large else "error: contract"


def _listings_child(arguments: argparse.Namespace, first: int, sender: Connection) -> None:
    bundle = load_bundle(POLICIES)
    evaluator = Evaluator(bundle)
    terms = [
        terms[0].rstrip("*")
        for lexicon in bundle.policy_set.lexicons.values()
        for terms in lexicon.terms.values()
    ]
    maker = ListingMaker(arguments.seed, terms)
    batches = -(-arguments.listings // arguments.batch)
    for number in range(first, batches):
        sender.send(("start", number))
        size = min(arguments.batch, arguments.listings - number * arguments.batch)
        batch = maker.batch(number, size)
        report: dict[str, Any] = {
            "listings": size,
            "decisions": Counter(),
            "mismatches": [],
            "exceptions": [],
        }
        started = time.perf_counter()
        try:
            together = evaluator.evaluate_many([listing for _, listing in batch], DAY)
        except Exception as error:
            report["exceptions"].append(_describe(error, number, None))
            report["seconds"] = time.perf_counter() - started
            sender.send(("done", number, report))
            continue
        report["seconds"] = time.perf_counter() - started
        for result in together:
            outcome = _outcome(result)
            report["decisions"][outcome[0] if isinstance(outcome, tuple) else outcome.decision.value] += 1
        if number % arguments.check_every == 0:
            singles = []
            for position, (recipe, listing) in enumerate(batch):
                began = time.perf_counter()
                try:
                    (alone,) = evaluator.evaluate_many([listing], DAY)
                except Exception as error:
                    report["exceptions"].append(_describe(error, number, position))
                    continue
                singles.append((time.perf_counter() - began, number, position, recipe))
                if _outcome(alone) != _outcome(together[position]):
                    report["mismatches"].append({"batch": number, "position": position, "recipe": recipe})
            report["slowest"] = heapq.nlargest(5, singles)
        sender.send(("done", number, report))
    sender.send(("finished", batches))


def _describe(error: BaseException, number: int, position: int | None) -> dict[str, Any]:
    return {
        "input": number,
        "position": position,
        "error": f"{type(error).__name__}: {str(error)[:200]}",
        "where": traceback.format_exception(error)[-2].strip()[:300],
    }


# --- policy files ------------------------------------------------------------------------------


HOSTILE_VALUES = [
    "1e16", "-0.0", ".nan", ".inf", "-.inf", "1" * 400, "1e-7", "0x1F", "null", "~", "[]", "{}", '""',
    "*nowhere", "&a [*a]", "!!python/object/apply:os.system ['true']", "!!binary aGVsbG8=", "2025-13-45",
    "'(a+)+$'", "'(\\d+)+x'", "'(x|x)*y'", "'[a-z]+\\d'", "'('", "'\\x00'", "\"\\u202e\"", "yes", "NO",
    "'" + "a" * 30_000 + "'", "[" * 200 + "]" * 200, "{a: &b [x, x, x, x, x, x, x, x, x, x]}",
]  # fmt: skip
BOMB = "\n".join(
    ["bomb0: &b0 [x, x, x, x, x, x, x, x, x, x]"]
    + [f"bomb{n}: &b{n} [{', '.join([f'*b{n - 1}'] * 10)}]" for n in range(1, 9)]
)


class PackMaker:
    """Small packs around one mutated file of the shipped pack, the same for the same number."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.tree = read_tree(POLICIES)
        policy_set = load_policy_set(self.tree)
        self.needs = {name: _needs(policy_set, name) for name in policy_set.policy_files.values()}
        self.files = sorted(self.tree)

    def pack(self, number: int) -> SourceTree:
        rng = random.Random(f"{self.seed}:policies:{number}")
        target = rng.choice(self.files)
        policy = target if target in self.needs else rng.choice(sorted(self.needs))
        tree = {name: self.tree[name] for name in {policy, target, "attributes.yaml", *self.needs[policy]}}
        text = tree[target].decode()
        for _ in range(rng.choice([1, 1, 1, 2, 3])):
            text = rng.choice(MUTATIONS)(rng, text)
        tree[target] = text.encode("utf-8", "surrogatepass")
        return tree


def _needs(policy_set: PolicySet, policy_file: str) -> set[str]:
    """The files one policy needs: the instruments it cites, the lexicons and lists it names."""
    document = policy_set.documents[policy_file]
    text = orjson.dumps(document.value, default=str).decode()
    return {
        name
        for name, other in policy_set.documents.items()
        if name.startswith(("legal/", "lexicons/", "lists/"))
        and isinstance(other.value, dict)
        and any(f'"{other.value.get(key)}"' in text for key in ("instrument", "lexicon", "list"))
    }


def _lines(text: str) -> list[str]:
    return text.split("\n")


def _drop_line(rng: random.Random, text: str) -> str:
    lines = _lines(text)
    del lines[rng.randrange(len(lines))]
    return "\n".join(lines)


def _double_line(rng: random.Random, text: str) -> str:
    lines = _lines(text)
    at = rng.randrange(len(lines))
    lines.insert(at, lines[at])
    return "\n".join(lines)


def _swap_lines(rng: random.Random, text: str) -> str:
    lines = _lines(text)
    first, second = rng.randrange(len(lines)), rng.randrange(len(lines))
    lines[first], lines[second] = lines[second], lines[first]
    return "\n".join(lines)


def _cut(rng: random.Random, text: str) -> str:
    return text[: rng.randrange(len(text) + 1)]


def _replace_value(rng: random.Random, text: str) -> str:
    lines = _lines(text)
    candidates = [n for n, line in enumerate(lines) if ": " in line or line.lstrip().startswith("- ")]
    if not candidates:
        return text
    at = rng.choice(candidates)
    line = lines[at]
    cut = line.index(": ") + 2 if ": " in line else line.index("- ") + 2
    lines[at] = line[:cut] + rng.choice(HOSTILE_VALUES)
    return "\n".join(lines)


def _stray_characters(rng: random.Random, text: str) -> str:
    chars = list(text)
    for _ in range(rng.randint(1, 5)):
        chars.insert(rng.randint(0, len(chars)), rng.choice(STRAY + "\t\r:[]{}&*!|>-#%@`'\""))
    return "".join(chars)


def _append_bomb(rng: random.Random, text: str) -> str:
    return text.rstrip("\n") + "\n" + BOMB + "\n"


def _mutate_regex(rng: random.Random, text: str) -> str:
    lines = _lines(text)
    candidates = [n for n, line in enumerate(lines) if "regex:" in line or "patterns:" in line]
    if not candidates:
        return _replace_value(rng, text)
    at = rng.choice(candidates)
    line = lines[at]
    opening, quote = line.find("'"), line.rfind("'")
    if quote <= opening:
        return text
    insert = rng.choice(["+", "*", "(a+)+", "(\\d+)+", "\\d+", "(.*)*", "{0,99999}", "(", "\\"])
    where = rng.randint(opening + 1, quote)
    lines[at] = line[:where] + insert + line[where:]
    return "\n".join(lines)


MUTATIONS: list[Callable[[random.Random, str], str]] = [
    _drop_line, _double_line, _swap_lines, _cut, _replace_value, _replace_value, _stray_characters,
    _append_bomb, _mutate_regex, _mutate_regex,
]  # fmt: skip


def _policies_child(arguments: argparse.Namespace, first: int, sender: Connection) -> None:
    maker = PackMaker(arguments.seed)
    listings = samples()
    costs: dict[str, str] = {}
    last = min(arguments.policies, first + _RESTART_POLICIES_EVERY)
    for number in range(first, last):
        sender.send(("start", number))
        tree = maker.pack(number)
        started = time.perf_counter()
        report: dict[str, Any] = {"outcome": "", "exceptions": []}
        try:
            report["outcome"] = _check_pack(tree, costs, listings)
        except Exception as error:
            report["outcome"] = "exception"
            report["exceptions"].append(_describe(error, number, None))
        report["seconds"] = time.perf_counter() - started
        sender.send(("done", number, report))
    sender.send(("finished", last))


def _check_pack(tree: SourceTree, costs: dict[str, str], listings: list[dict[str, Any]]) -> str:
    """What `tamis check` does, then an evaluator over the samples; the outcome's name."""
    try:
        bundle = load_bundle(tree)
    except PolicySetError:
        return "refused"
    patterns = sorted({pattern for *_, pattern in pack_patterns(bundle.policy_set)} - set(costs))
    if patterns:
        slow = measure(patterns)
        costs.update({pattern: slow.get(pattern, "") for pattern in patterns})
    if any(costs[pattern] for *_, pattern in pack_patterns(bundle.policy_set)):
        return "refused: slow regular expression"
    lint(bundle.policy_set, DAY)
    evaluator = Evaluator(bundle)
    try:
        for result in evaluator.evaluate_many(listings, DAY):
            if not isinstance(result, Verdict | ListingError):
                raise TypeError(f"evaluate_many returned {type(result).__name__}")
    finally:
        evaluator.close()
    return "loaded"


# --- the watchdog ------------------------------------------------------------------------------


def watch(
    name: str,
    child: Callable[[argparse.Namespace, int, Connection], None],
    total: int,
    arguments: argparse.Namespace,
    absorb: Callable[[int, dict[str, Any]], None],
) -> dict[str, Any]:
    """Run `child` over inputs 0..total-1, restarting it after a crash, a hang or its own end."""
    context = multiprocessing.get_context("fork")
    crashes: list[dict[str, Any]] = []
    hangs: list[dict[str, Any]] = []
    first, done, started = 0, 0, time.perf_counter()
    last_progress = 0.0
    while first < total:
        receiver, sender = context.Pipe(duplex=False)
        process = context.Process(target=child, args=(arguments, first, sender))  # may fork itself
        process.start()
        sender.close()
        current = first
        while True:
            if not receiver.poll(arguments.timeout + (120 if current == first else 0)):  # + set-up
                hangs.append({"input": current, "seconds": arguments.timeout})
                first = current + 1
                break
            try:
                message = receiver.recv()
            except EOFError:
                process.join()
                crashes.append({"input": current, "exit_code": process.exitcode})
                first = current + 1
                break
            if message[0] == "start":
                current = message[1]
            elif message[0] == "done":
                absorb(message[1], message[2])
                done += 1
                first = message[1] + 1
            else:  # finished: the child stopped by itself
                break
            now = time.perf_counter()
            if now - last_progress > 5:
                last_progress = now
                print(
                    f"{name}: {done:,}/{total:,} inputs, {len(crashes)} crashes, {len(hangs)} hangs, "
                    f"{now - started:,.0f} s",
                    file=sys.stderr,
                )
        process.kill()
        process.join()
        receiver.close()
    return {
        "inputs": total,
        "completed": done,
        "crashes": crashes,
        "hangs": hangs,
        "seconds": time.perf_counter() - started,
    }


def fuzz_listings(arguments: argparse.Namespace) -> dict[str, Any]:
    decisions: Counter[str] = Counter()
    mismatches: list[dict[str, Any]] = []
    exceptions: list[dict[str, Any]] = []
    slowest_batches: list[tuple[float, int]] = []
    slowest: list[tuple[float, int, int, str]] = []

    def absorb(number: int, report: dict[str, Any]) -> None:
        decisions.update(report["decisions"])
        mismatches.extend(report["mismatches"])
        exceptions.extend(report["exceptions"])
        heapq.heappush(slowest_batches, (report["seconds"], number))
        if len(slowest_batches) > 5:
            heapq.heappop(slowest_batches)
        slowest[:] = heapq.nlargest(10, [*slowest, *report.get("slowest", [])])

    batches = -(-arguments.listings // arguments.batch)
    result = watch("listings", _listings_child, batches, arguments, absorb)
    return {
        **result,
        "listings": arguments.listings,
        "batch": arguments.batch,
        "decisions": dict(decisions),
        "mismatches": mismatches[:20],
        "mismatch_count": len(mismatches),
        "exceptions": exceptions[:20],
        "exception_count": len(exceptions),
        "slowest_batches": [{"batch": n, "seconds": s} for s, n in sorted(slowest_batches, reverse=True)],
        "slowest_listings_alone": [
            {"batch": n, "position": p, "recipe": r, "seconds": s} for s, n, p, r in slowest
        ],
    }


def fuzz_policies(arguments: argparse.Namespace) -> dict[str, Any]:
    outcomes: Counter[str] = Counter()
    exceptions: list[dict[str, Any]] = []
    times: list[tuple[float, int]] = []

    def absorb(number: int, report: dict[str, Any]) -> None:
        outcomes[report["outcome"]] += 1
        exceptions.extend(report["exceptions"])
        heapq.heappush(times, (report["seconds"], number))
        if len(times) > 5:
            heapq.heappop(times)

    result = watch("policies", _policies_child, arguments.policies, arguments, absorb)
    return {
        **result,
        "outcomes": dict(outcomes),
        "exceptions": exceptions[:20],
        "exception_count": len(exceptions),
        "slowest_inputs": [{"input": n, "seconds": s} for s, n in sorted(times, reverse=True)],
    }


def replay(arguments: argparse.Namespace) -> None:
    part, _, number = arguments.replay.partition(":")
    if part == "listings":
        bundle = load_bundle(POLICIES)
        terms = [
            t[0].rstrip("*")
            for lexicon in bundle.policy_set.lexicons.values()
            for t in lexicon.terms.values()
        ]
        batch = ListingMaker(arguments.seed, terms).batch(int(number), arguments.batch)
        for recipe, listing in batch:
            print(orjson.dumps({"recipe": recipe, "listing": listing}, default=repr).decode())
    else:
        for name, source in sorted(PackMaker(arguments.seed).pack(int(number)).items()):
            print(f"--- {name}\n{source.decode('utf-8', 'replace')}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--listings", type=int, default=1_000_000)
    parser.add_argument("--policies", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=200, help="listings per evaluate_many call")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--timeout", type=float, default=60.0, help="seconds one input (batch, pack) may take"
    )
    parser.add_argument("--check-every", type=int, default=10, help="judge every Nth batch one by one too")
    parser.add_argument("--replay", default=None, help="listings:N or policies:N: print that input")
    parser.add_argument("--out", type=Path, default=None, help="default: bench/results/fuzz-<time>.json")
    arguments = parser.parse_args()
    if arguments.replay:
        replay(arguments)
        return
    results = {
        "seed": arguments.seed,
        "listings": fuzz_listings(arguments) if arguments.listings else None,
        "policies": fuzz_policies(arguments) if arguments.policies else None,
    }
    for part in ("listings", "policies"):
        found = results[part]
        if found:
            print(
                f"{part}: {found['completed']:,}/{found['inputs']:,} inputs in {found['seconds']:,.0f} s; "
                f"{len(found['crashes'])} crashes, {len(found['hangs'])} hangs, "
                f"{found['exception_count']} exceptions"
                + (f", {found['mismatch_count']} batch/alone mismatches" if part == "listings" else "")
            )
    print(f"wrote {write('fuzz', results, arguments.out)}")


if __name__ == "__main__":
    main()
