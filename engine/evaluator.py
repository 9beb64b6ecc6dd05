"""Judge listings under a bundle: validate, scan text, fire the engine, assemble verdicts."""

from __future__ import annotations

import math
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from tamis.engine.bundle import Bundle
from tamis.engine.compiler import date_number
from tamis.engine.durable import MAX_FACT_PROPERTIES, DurableRuleset, next_fact_id
from tamis.engine.errors import FieldViolation, ListingError
from tamis.engine.evidence import Reader, evidence_of, leaf_reader
from tamis.engine.facts import fact_builder
from tamis.engine.listing import DEFAULT_LIMITS, Limits, validate_listing
from tamis.engine.quote import quote
from tamis.engine.textscan import OverBudget, TextFindings
from tamis.engine.verdict import Evidence, Ground, Match, Verdict

#: Evaluation is CPU-bound Python: threads gain nothing by evaluating at once (the GIL) and lose
#: much to contention for it (measured in a gRPC worker: 6,300 verdicts/s from one stream, 4,500
#: from two, 3,800 from four), so a process evaluates one batch at a time; callers wait on a
#: lock, without the GIL.
_ONE_AT_A_TIME = threading.Lock()

#: French law first: "today" is the date in Paris unless a caller says otherwise.
DEFAULT_TIMEZONE = ZoneInfo("Europe/Paris")

STAGES = ("validation", "normalisation and text matching", "engine", "verdict assembly")

#: Grounds cited per (policy, day): callers choose the day, so the cache keeps the latest few.
GROUND_CACHE_SIZE = 4096


class DeadlineExceeded(TimeoutError):
    """The caller's deadline passed before the batch was judged; nothing of it is returned."""


def today(zone: ZoneInfo = DEFAULT_TIMEZONE) -> date:
    return datetime.now(zone).date()


_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def parse_day(text: str) -> date:
    """A day written YYYY-MM-DD, as the API documents it (Python alone would also take
    `20251120` or `2025-W47-4`, which a caller more likely mistyped than meant)."""
    if not _DAY.fullmatch(text):
        raise ValueError(f"expected a date YYYY-MM-DD, got {quote(text)}")
    return date.fromisoformat(text)


@dataclass
class StageTimes:
    """Seconds spent per stage, accumulated over calls (for the service's metrics and the benchmarks)."""

    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))
    listings: int = 0


class Evaluator:
    """Evaluates listings against one bundle; owns that bundle's durable-rules ruleset.

    Safe to call from several threads (the engine itself is serialised); close it to free the
    ruleset once no call is in flight.
    """

    def __init__(
        self, bundle: Bundle, limits: Limits = DEFAULT_LIMITS, zone: ZoneInfo = DEFAULT_TIMEZONE
    ) -> None:
        self.bundle = bundle
        self.limits = limits
        self.zone = zone
        self._fields = bundle.policy_set.fields
        self._ruleset = DurableRuleset(f"tamis-{bundle.digest[7:19]}", bundle.program.ruleset)
        self._grounds: OrderedDict[tuple[int, date], tuple[Ground, ...]] = OrderedDict()
        self._build_fact = fact_builder(bundle.program.plan)
        # What a verdict needs of each rule and policy, worked out once per bundle. Equal tests
        # of different policies (a category, a lexicon) share one reader, so that a listing
        # matching many policies reads each test's evidence once (see _matches).
        readers: dict[Any, Reader] = {}
        self._rule_tests: dict[str, tuple[int, _Tests]] = {}
        for name, rule in bundle.program.rules.items():
            positive = {
                id(literal.leaf): (literal.prop, literal.leaf)
                for literal in sorted(rule.literals, key=lambda literal: literal.prop)
                if literal.leaf is not None and literal.positive
            }
            tests = tuple(
                (prop, key, readers[leaf] if leaf in readers else readers.setdefault(leaf, leaf_reader(leaf)))
                for key, (prop, leaf) in positive.items()
            )
            self._rule_tests[name] = (rule.policy, tests)
        policies = bundle.policy_set.policies
        self._order = [(-policy.verdict.strength, policy.id) for policy in policies]
        self._policies = [
            (policy.id, policy.title, policy.verdict, policy.confidence.value, where)
            for policy, where in zip(policies, bundle.program.policy_countries, strict=True)
        ]

    def close(self) -> None:
        self._ruleset.close()

    def evaluate(self, listing: Any, as_of: date | None = None) -> Verdict:
        """One listing; raises ListingError when it breaks the contract."""
        result = self.evaluate_many([listing], as_of)[0]
        if isinstance(result, ListingError):
            raise result
        return result

    def evaluate_many(
        self,
        listings: Sequence[Any],
        as_of: date | Sequence[date | None] | None = None,
        times: StageTimes | None = None,
        deadline: float = math.inf,
    ) -> list[Verdict | ListingError]:
        """Many listings in one engine call; a bad listing gets its error, the rest go on.

        `as_of` is one date for all, or one per listing (None: today). Past `deadline` (a
        time.perf_counter value, e.g. a caller's), DeadlineExceeded is raised between listings.
        """
        with _ONE_AT_A_TIME:
            return self._evaluate_many(listings, as_of, times, deadline)

    def _evaluate_many(
        self,
        listings: Sequence[Any],
        as_of: date | Sequence[date | None] | None,
        times: StageTimes | None,
        deadline: float,
    ) -> list[Verdict | ListingError]:
        clock = time.perf_counter
        started = clock()
        days = _days(as_of, len(listings), self.zone)
        results: list[Verdict | ListingError | None] = [None] * len(listings)
        valid: list[tuple[int, dict[str, Any]]] = []
        for position, raw in enumerate(listings):
            try:
                valid.append((position, validate_listing(raw, self.limits, self._fields)))
            except ListingError as error:
                results[position] = error
        validated = clock()
        scanner, build_fact = self.bundle.scanner, self._build_fact
        work: list[tuple[int, dict[str, Any], TextFindings, dict[str, Any]]] = []
        # A listing's budget is the processor time its own reading takes (time.thread_time), so
        # that a busy machine does not turn an innocent listing into an error.
        budget = self.limits.max_listing_ms / 1000
        for position, listing in valid:
            if deadline < math.inf and clock() > deadline:
                raise DeadlineExceeded("the deadline passed before every listing was read")
            try:
                findings = scanner.scan(listing, budget=budget)
                fact = build_fact(scanner, findings, date_number(days[position]), next_fact_id())
            except OverBudget:
                limit = self.limits.max_listing_ms
                results[position] = _not_evaluated(
                    f"took over {limit} ms of processor time to read; the limit"
                )
                continue
            if len(fact) > MAX_FACT_PROPERTIES:
                results[position] = _not_evaluated(
                    f"the listing raises {len(fact)} signals; the engine takes {MAX_FACT_PROPERTIES}"
                )
                continue
            work.append((position, listing, findings, fact))
        scanned = clock()
        fired, failed = self._ruleset.fire_each([fact for *_, fact in work])
        if failed:
            for position, _, _, fact in work:
                if fact["id"] in failed:
                    why = failed[fact["id"]]
                    results[position] = _not_evaluated(f"the rule engine could not take it: {why}")
            work = [entry for entry in work if entry[3]["id"] not in failed]
        engined = clock()
        for position, listing, findings, fact in work:
            matches = self._matches(fired.get(fact["id"], ()), listing, findings, days[position])
            results[position] = Verdict(
                listing["id"],
                Verdict.strongest(matches),
                matches,
                self.bundle.digest,
                days[position],
                listing,
            )
        if times is not None:
            done = clock()
            for stage, seconds in zip(
                STAGES,
                (validated - started, scanned - validated, engined - scanned, done - engined),
                strict=True,
            ):
                times.seconds[stage] += seconds
            times.listings += len(listings)
        return [result for result in results if result is not None]

    def _matches(
        self, rules: set[str] | tuple[()], listing: dict[str, Any], findings: TextFindings, day: date
    ) -> tuple[Match, ...]:
        if not rules:
            return ()
        tests: dict[int, list[_Tests]] = {}  # policy → the tests of each of its fired rules
        for name in rules:
            index, readers = self._rule_tests[name]
            tests.setdefault(index, []).append(readers)
        ship_to = listing["ship_to"]
        shown: dict[Reader, list[Evidence]] = {}  # each test's evidence, read once per listing
        places: dict[frozenset[str], tuple[str, ...]] = {}
        matches = []
        for index in sorted(tests, key=self._order.__getitem__):
            policy_id, title, decision, confidence, where = self._policies[index]
            countries = places.get(where)
            if countries is None:
                countries = places[where] = tuple(code for code in ship_to if code in where)
            matches.append(
                Match(
                    policy_id,
                    title,
                    decision,
                    countries,
                    self._grounds_for(index, day),
                    evidence_of(_readers(tests[index]), listing, findings, shown),
                    confidence,
                )
            )
        return tuple(matches)

    def _grounds_for(self, index: int, day: date) -> tuple[Ground, ...]:
        key = (index, day)
        grounds = self._grounds.get(key)
        if grounds is None:
            grounds = self._grounds[key] = tuple(
                cite(self.bundle, ref.instrument, ref.article, day)
                for ref in self.bundle.policy_set.policies[index].grounds
            )
            if len(self._grounds) > GROUND_CACHE_SIZE:
                self._grounds.popitem(last=False)
        else:
            self._grounds.move_to_end(key)
        return grounds


def cite(bundle: Bundle, instrument_id: str, article_number: str, day: date) -> Ground:
    """A ground as cited on `day`: the article version in force then, with its URL."""
    instrument = bundle.policy_set.instruments[instrument_id]
    article = instrument.articles[article_number]
    version = next((v for v in article.versions if v.in_force_on(day)), None)
    url = (version.url if version and version.url else None) or article.url or instrument.url
    return Ground(
        instrument.instrument,
        instrument.title,
        article_number,
        instrument.jurisdiction,
        url,
        version.label if version else "",
    )


#: A rule's positive tests: (fact property, leaf identity, evidence reader), by property.
_Tests = tuple[tuple[str, int, Reader], ...]


def _readers(fired: list[_Tests]) -> list[Reader]:
    """The evidence readers of a policy's fired rules: by fact property, each leaf once (the
    rules of one policy share most of their tests)."""
    if len(fired) == 1:
        return [reader for _, _, reader in fired[0]]
    readers: dict[int, Reader] = {}
    for _, leaf, reader in sorted((test for tests in fired for test in tests), key=lambda test: test[0]):
        readers.setdefault(leaf, reader)
    return list(readers.values())


def _not_evaluated(description: str) -> ListingError:
    """The error of a listing the engine could not judge (whatever its neighbours got)."""
    return ListingError([FieldViolation("", description)], too_large=True)


def _days(as_of: date | Sequence[date | None] | None, count: int, zone: ZoneInfo) -> list[date]:
    if as_of is None or isinstance(as_of, date):
        day = as_of or today(zone)
        return [day] * count
    fallback = today(zone)
    return [day or fallback for day in as_of]
