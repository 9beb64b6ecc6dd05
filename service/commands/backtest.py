"""`tamis backtest`: judge the same listings under a baseline and a candidate, report the difference.

Listings come from a JSON-lines catalogue (`--input`) or from the verdict log (`--log`, with the
filters of `tamis audit query`: the stored canonical requests). The candidate is the pack in
`--policies` as of `--as-of`; the baseline is another pack (`--baseline DIR`), a bundle stored
in the log (`--baseline sha256:…`), the verdicts as logged (`--baseline logged`, the default
with `--log`), or the candidate pack at another date (`--baseline-as-of`). The report starts with
the pack diff; `--json OUT` gets every changed listing; `--fail-on` makes CI fail on a kind of
change. Exit status: 0, 1 when a `--fail-on` kind occurred, 2 for bad arguments or a pack or log
that cannot be read.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import IO, Any, cast

import orjson

from tamis.engine import (
    DEFAULT_LIMITS,
    GATES,
    OUTCOMES,
    Backtest,
    Bundle,
    Change,
    Evaluator,
    ListingError,
    Match,
    Outcome,
    Verdict,
    diff_bundles,
    today,
)
from tamis.service.commands.audit import add_query_filters, query_of
from tamis.service.commands.common import add_as_of_option, add_policies_option, day_argument, load_or_report
from tamis.service.commands.evaluate import Progress
from tamis.service.verdictforms import match_to_json
from tamis.service.verdictlog import (
    AuditLog,
    CannotRebuild,
    LogError,
    VerdictQuery,
    open_database,
    rebuild_bundle,
)
from tamis.service.verdictlog.query import MAX_LIMIT

BATCH = 256
LOGGED = "logged"
#: Most bundles of a logged baseline that the report diffs against the candidate.
MAX_DIFFS = 3
_FILTERS = ("listing", "seller", "decision", "policy", "instrument", "article", "since", "until")


class UsageError(ValueError):
    """Arguments that do not make a backtest; exit status 2."""


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "backtest",
        help="preview what a policy change (or a date) does to past or sample listings",
        description="Judge the same listings under a baseline and a candidate and report what "
        "changes: the pack diff, decision transitions, per policy the listings newly matched and "
        "no longer matched, changed grounds, and examples with their evidence. Exit 0; 1 when a "
        "--fail-on kind of change occurred; 2 for bad arguments or a pack or log that cannot be read.",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--input", type=Path, metavar="FILE.jsonl", help="listings, one JSON object per line")
    source.add_argument(
        "--log",
        metavar="LOCATION",
        help="the verdict log (SQLite path or postgresql:// DSN): its logged requests, narrowed by "
        "the filters below",
    )
    add_query_filters(parser)
    add_policies_option(parser)
    add_as_of_option(parser, "a logged verdict's own date, else today in Europe/Paris")
    parser.add_argument(
        "--baseline",
        metavar="DIR|sha256:DIGEST|logged",
        help="what to compare with: a pack directory, a bundle stored in --log, or the verdicts as "
        "logged (the default with --log); with --input, the candidate pack at --baseline-as-of",
    )
    parser.add_argument(
        "--baseline-as-of",
        type=day_argument,
        metavar="YYYY-MM-DD",
        help="judge the baseline under the law of this date (default: the candidate's date)",
    )
    parser.add_argument("--json", type=Path, metavar="OUT", help="write every changed listing to OUT as JSON")
    parser.add_argument(
        "--fail-on",
        action="append",
        choices=GATES,
        default=[],
        help="exit 1 if this kind of change occurs (repeatable): "
        + "; ".join(f"{gate}: {meaning}" for gate, meaning in GATES.items()),
    )
    parser.set_defaults(handler=run)


@dataclass(frozen=True, slots=True)
class Item:
    """One listing to judge twice: where it came from and, from the log, how it was judged."""

    key: str
    listing: Any
    listing_id: str
    as_of: date | None = None
    logged: Verdict | None = None


@dataclass(frozen=True)
class Side:
    """A baseline or candidate: an evaluator (none: the logged verdicts), a date, a description."""

    evaluator: Evaluator | None
    as_of: date | None
    label: str

    def judge(self, items: Sequence[Item], fallback: date) -> list[Outcome]:
        if self.evaluator is None:  # listings from the log carry their logged verdict
            return [cast(Verdict, item.logged) for item in items]
        days = [self.as_of or item.as_of or fallback for item in items]
        return self.evaluator.evaluate_many([item.listing for item in items], days)


def run(arguments: argparse.Namespace) -> int:
    audit: AuditLog | None = None
    out: IO[bytes] | None = None
    evaluators: list[Evaluator] = []
    try:
        query = _check(arguments)
        if arguments.log is not None:
            audit = AuditLog(open_database(arguments.log, create=False))
        candidate_bundle = _load(arguments.policies)
        candidate = Evaluator(candidate_bundle)
        evaluators.append(candidate)
        baseline, baseline_bundle = _baseline(arguments, audit, candidate)
        if baseline.evaluator is not None and baseline.evaluator is not candidate:
            evaluators.append(baseline.evaluator)
        out = _open_output(arguments.json)
        items = _from_log(audit, query) if audit is not None else _from_file(arguments.input)
        report = _Report(Side(candidate, arguments.as_of, _described(arguments.policies, candidate_bundle)))
        report.run(items, baseline, out)
        logged = report.logged_bundles if baseline.evaluator is None else Counter()
        diffs = _diffs(candidate_bundle, baseline_bundle, logged, audit)
        if out is not None:
            report.finish_json(out, baseline, diffs)
        report.write_text(sys.stdout, baseline, diffs)
        return report.verdict(arguments.fail_on)
    except (UsageError, ValueError, LogError, OSError) as error:
        print(f"tamis backtest: {_shown(str(error), 300)}", file=sys.stderr)
        return 2
    finally:
        if out is not None:
            out.close()
        for evaluator in evaluators:
            evaluator.close()
        if audit is not None:
            audit.close()


def _check(arguments: argparse.Namespace) -> VerdictQuery | None:
    """The log query, after refusing combinations that make no comparison."""
    filters = [name for name in _FILTERS if getattr(arguments, name) is not None]
    baseline = arguments.baseline
    if arguments.log is None:
        if not arguments.input.is_file():
            raise UsageError(f"input file not found: {_shown(str(arguments.input), 200)}")
        if arguments.json is not None and arguments.json.resolve() == arguments.input.resolve():
            raise UsageError("--json would overwrite the --input file")
        if filters:
            raise UsageError(f"--{filters[0]} filters the verdict log: give --log")
        if baseline is None and arguments.baseline_as_of is None:
            raise UsageError("nothing to compare with: give --baseline DIR or --baseline-as-of DATE")
        if baseline is not None and (baseline == LOGGED or baseline.startswith("sha256:")):
            raise UsageError(f"--baseline {_shown(baseline, 80)} reads the verdict log: give --log")
        return None
    if (baseline is None or baseline == LOGGED) and arguments.baseline_as_of is not None:
        raise UsageError(
            "the logged verdicts were judged as of their own dates: give --baseline DIR or "
            "sha256:DIGEST with --baseline-as-of"
        )
    return query_of(arguments)


def _load(source: Path | str, audit: AuditLog | None = None) -> Bundle:
    if isinstance(source, str):  # a digest stored in the log
        try:
            return rebuild_bundle(_shown(source, 80), audit.bundle_sources(source) if audit else None)
        except CannotRebuild as error:
            raise UsageError(str(error)) from error
    loaded = load_or_report(source)
    if loaded is None:
        raise UsageError(f"the pack in {_shown(str(source), 200)} does not load")
    return loaded


def _baseline(
    arguments: argparse.Namespace, audit: AuditLog | None, candidate: Evaluator
) -> tuple[Side, Bundle | None]:
    day = arguments.baseline_as_of or arguments.as_of
    given = arguments.baseline
    if (given is None and audit is not None) or given == LOGGED:
        return Side(None, None, "the verdicts as logged"), None
    if given is None:  # the candidate pack at another date
        return Side(candidate, day, f"the same pack ({candidate.bundle.digest})"), candidate.bundle
    bundle = _load(given if given.startswith("sha256:") else Path(given), audit)
    if bundle.digest == candidate.bundle.digest:
        return Side(candidate, day, _described(given, bundle)), bundle
    return Side(Evaluator(bundle), day, _described(given, bundle)), bundle


def _described(source: Path | str, bundle: Bundle) -> str:
    where = _shown(str(source), 120)
    return bundle.digest if where == bundle.digest else f"{where} ({bundle.digest})"


def _open_output(path: Path | None) -> IO[bytes] | None:
    """OUT opened before any work, so that a bad path fails at once."""
    if path is None:
        return None
    try:
        return path.open("wb")
    except OSError as error:
        raise UsageError(f"cannot write --json {_shown(str(path), 120)}: {error.strerror}") from None


def _from_file(path: Path) -> Iterator[Item | int]:
    """Listings of a JSON-lines file; the number of a line that is not a JSON value or is larger
    than any listing may be (as `tamis eval`, it is not parsed)."""
    with path.open("rb") as lines:
        for number, raw in enumerate(lines, start=1):
            if not raw.strip():
                continue
            if len(raw) > DEFAULT_LIMITS.max_listing_bytes:
                yield number
                continue
            try:
                listing = orjson.loads(raw)
            except orjson.JSONDecodeError:
                yield number
                continue
            listing_id = listing.get("id") if isinstance(listing, dict) else None
            yield Item(f"line {number}", listing, listing_id if isinstance(listing_id, str) else "")


def _from_log(audit: AuditLog, query: VerdictQuery | None) -> Iterator[Item | int]:
    """Every logged verdict the query finds, newest first, a page at a time."""
    after = None
    while True:
        page = audit.query(query or VerdictQuery(), MAX_LIMIT, after)
        for logged in page.verdicts:
            record = logged.record
            yield Item(
                f"verdict {logged.id}",
                orjson.loads(record.request),
                record.listing_id,
                record.as_of,
                logged.verdict(),
            )
        if page.next_cursor is None:
            return
        after = page.next_cursor


def _batches(items: Iterator[Item | int]) -> Iterator[tuple[list[Item], int]]:
    batch: list[Item] = []
    skipped = 0
    for item in items:
        if isinstance(item, int):
            skipped += 1
            continue
        batch.append(item)
        if len(batch) == BATCH:
            yield batch, skipped
            batch, skipped = [], 0
    if batch or skipped:
        yield batch, skipped


class _Report:
    """Runs the comparison and writes it out."""

    def __init__(self, candidate: Side) -> None:
        self.candidate = candidate
        self.totals = Backtest()
        self.skipped = 0
        self.logged_bundles: Counter[str] = Counter()
        self._first = True

    def run(self, items: Iterator[Item | int], baseline: Side, out: IO[bytes] | None) -> None:
        progress = Progress(sys.stderr)
        fallback = today()
        if out is not None:
            out.write(b'{"changed":[')
        for batch, skipped in _batches(items):
            self.skipped += skipped
            after = self.candidate.judge(batch, fallback)
            before = baseline.judge(batch, fallback)
            lines = []
            for item, old, new in zip(batch, before, after, strict=True):
                if item.logged is not None:
                    self.logged_bundles[item.logged.bundle_digest] += 1
                change = self.totals.compare(item.key, item.listing_id, old, new)
                if change is not None and out is not None:
                    lines.append(orjson.dumps(change_to_json(change)))
            if out is not None and lines:
                out.write((b"" if self._first else b",") + b",".join(lines))
                self._first = False
            progress.update(len(batch) + skipped, skipped)
        progress.finish()

    def finish_json(self, out: IO[bytes], baseline: Side, diffs: list[dict[str, Any]]) -> None:
        tail = {
            "candidate": self.candidate.label,
            "baseline": baseline.label,
            "skipped_lines": self.skipped,
            "summary": self.totals.summary(),
            "diffs": [{key: value for key, value in diff.items() if key != "lines"} for diff in diffs],
        }
        out.write(b"]," + orjson.dumps(tail)[1:] + b"\n")

    def write_text(self, stream: IO[str], baseline: Side, diffs: list[dict[str, Any]]) -> None:
        """The readable report: the pack diff(s), the totals, the examples."""
        write = stream.write
        for diff in diffs:
            write("\n".join(diff["lines"]) + "\n\n")
        totals = self.totals
        as_of = f" as of {self.candidate.as_of}" if self.candidate.as_of else ""
        base_as_of = baseline.as_of or (None if baseline.evaluator is None else self.candidate.as_of)
        write(f"backtest: {totals.listings:,} listings, {totals.changed:,} changed")
        write(f" ({self.skipped:,} lines skipped: not JSON, or too large)\n" if self.skipped else "\n")
        write(f"  baseline:  {baseline.label}{f' as of {base_as_of}' if base_as_of else ''}\n")
        write(f"  candidate: {self.candidate.label}{as_of}\n")
        if not totals.listings:
            write("no listings to compare\n")
            return
        _write_transitions(write, totals)
        _write_policies(write, totals)
        if totals.examples:
            write("\nexamples\n")
            for transition in sorted(totals.examples, key=lambda pair: tuple(map(OUTCOMES.index, pair))):
                for change in totals.examples[transition]:
                    _write_example(write, change)

    def verdict(self, fail_on: Sequence[str]) -> int:
        tripped = [gate for gate in dict.fromkeys(fail_on) if self.totals.gates[gate]]
        for gate in tripped:
            print(
                f"tamis backtest: --fail-on {gate}: {self.totals.gates[gate]:,} listing(s): {GATES[gate]}",
                file=sys.stderr,
            )
        return 1 if tripped else 0


Write = Callable[[str], object]


def _write_transitions(write: Write, totals: Backtest) -> None:
    write("\ndecisions (rows: baseline, columns: candidate)\n")
    write("          " + "".join(f"{name:>10}" for name in OUTCOMES) + "\n")
    for before in OUTCOMES:
        counts = [totals.transitions[before, after] for after in OUTCOMES]
        if any(counts):
            write(f"  {before:<8}" + "".join(f"{count:>10,}" for count in counts) + "\n")
    write("  " + ", ".join(f"{gate} {totals.gates[gate]:,}" for gate in GATES if gate != "any") + "\n")


def _write_policies(write: Write, totals: Backtest) -> None:
    if not totals.policies:
        return
    write("\npolicies (+ newly matched, - no longer matched, ~ decision or grounds changed)\n")
    for policy, tally in sorted(
        totals.policies.items(),
        key=lambda item: (-(item[1].newly_matched + item[1].no_longer_matched), item[0]),
    ):
        write(
            f"  +{tally.newly_matched:<7,} -{tally.no_longer_matched:<7,} "
            f"~{tally.grounds_changed:<7,} {_shown(policy, 120)}\n"
        )


def _write_example(write: Write, change: Change) -> None:
    """One changed listing: the policies it gained (with their evidence), lost, or that changed.
    Everything but the candidate's own policy ids may come from a log: shown escaped."""
    before, after = change.transition
    write(f"  {before} -> {after}: listing '{_shown(change.listing_id, 80)}' ({_shown(change.key, 60)})\n")
    if isinstance(change.after, ListingError):
        write(f"      now rejected: {_shown(str(change.after), 200)}\n")
    old, new = _by_policy(change.before), _by_policy(change.after)
    for policy in change.newly_matched:
        write(f"      + {policy} ({new[policy].decision.value})\n")
        for evidence in new[policy].evidence[:3]:
            where = f"[{evidence.start}:{evidence.end}]" if evidence.start is not None else ""
            matcher = evidence.lexicon or evidence.condition or "-"
            write(
                f"          {evidence.field}{where} '{_shown(evidence.text, 80)}' ({_shown(matcher, 80)})\n"
            )
    for policy in change.no_longer_matched:
        write(f"      - {_shown(policy, 120)}\n")
    for policy in change.grounds_changed:
        write(f"      ~ {policy}: {_cited(old[policy])} -> {_cited(new[policy])}\n")


def _by_policy(outcome: Outcome) -> dict[str, Match]:
    return {match.policy: match for match in outcome.matches} if isinstance(outcome, Verdict) else {}


def _cited(match: Match) -> str:
    grounds = "; ".join(
        f"{g.instrument} art. {g.article}" + (f" [{g.version}]" if g.version else "") for g in match.grounds
    )
    return _shown(f"{match.decision.value} on {grounds}", 300)


def _diffs(
    candidate: Bundle, baseline: Bundle | None, logged: Counter[str], audit: AuditLog | None
) -> list[dict[str, Any]]:
    """The pack diff the report starts with: against the baseline pack, or against the bundles
    that judged most of the logged verdicts."""
    if baseline is not None:
        return [] if baseline is candidate else [_diff_entry(baseline, candidate, None)]
    entries = []
    for digest, count in logged.most_common(MAX_DIFFS):
        try:
            bundle = candidate if digest == candidate.digest else _load(digest, audit)
        except UsageError as error:
            entries.append(
                {"old": digest, "verdicts": count, "lines": [f"pack diff {_shown(digest, 80)}: {error}"]}
            )
            continue
        entries.append(_diff_entry(bundle, candidate, count))
    if len(logged) > MAX_DIFFS:
        entries.append({"lines": [f"({len(logged) - MAX_DIFFS} more bundles judged the other verdicts)"]})
    return entries


def change_to_json(change: Change) -> dict[str, Any]:
    """One line of the report's `changed` list."""
    return {
        "key": change.key,
        "listing_id": change.listing_id,
        "before": _side(change.before),
        "after": _side(change.after),
        "newly_matched": list(change.newly_matched),
        "no_longer_matched": list(change.no_longer_matched),
        "grounds_changed": list(change.grounds_changed),
    }


def _side(outcome: Outcome) -> dict[str, Any]:
    if isinstance(outcome, ListingError):
        return {"decision": "error", "error": str(outcome)[:500]}
    return {
        "decision": outcome.decision.value,
        "policy_version": outcome.bundle_digest,
        "as_of": outcome.as_of.isoformat(),
        "matches": [match_to_json(match) for match in outcome.matches],
    }


def _diff_entry(old: Bundle, new: Bundle, verdicts: int | None) -> dict[str, Any]:
    difference = diff_bundles(old, new)
    lines = list(difference.lines())
    if verdicts is not None:
        lines[0] += f" (the bundle of {verdicts:,} logged verdicts)"
    return {**difference.to_dict(), "verdicts": verdicts, "lines": lines}


def _shown(text: str, limit: int) -> str:
    """Text from listings, logs or arguments, safe on a terminal and bounded."""
    shown = text if text.isprintable() else text.encode("unicode_escape").decode("ascii")
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"
