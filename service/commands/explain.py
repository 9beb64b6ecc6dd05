"""`tamis explain FILE.json`: each policy considered for one listing, and why it matched or not."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tamis.engine import Evaluator, Explainer, ListingError, today, validate_listing
from tamis.service.commands.common import add_as_of_option, add_policies_option, load_or_report


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "explain",
        help="explain the verdict on one listing",
        description="Print the verdict on one listing, then every policy with each condition "
        "and its value: why it matched, or which condition failed.",
    )
    parser.add_argument("file", type=Path, metavar="FILE.json", help="one listing ('-' for stdin)")
    parser.add_argument(
        "--policy", action="append", default=[], metavar="ID", help="only these policies (repeatable)"
    )
    add_as_of_option(parser)
    add_policies_option(parser)
    parser.set_defaults(handler=run)


def run(arguments: argparse.Namespace) -> int:
    bundle = load_or_report(arguments.policies)
    if bundle is None:
        return 1
    try:
        text = sys.stdin.read() if str(arguments.file) == "-" else arguments.file.read_text(encoding="utf-8")
        raw = json.loads(text)
    except (OSError, json.JSONDecodeError) as error:
        print(f"tamis: cannot read {arguments.file}: {error}", file=sys.stderr)
        return 1
    day = arguments.as_of or today()
    try:
        verdict = Evaluator(bundle).evaluate(raw, day)
    except ListingError as error:
        for violation in error.violations:
            print(f"invalid listing: {violation}", file=sys.stderr)
        return 1
    print(
        f"listing {verdict.listing_id}: {verdict.decision.value.upper()} "
        f"(as of {verdict.as_of}, bundle {verdict.bundle_digest})"
    )
    for match in verdict.matches:
        grounds = "; ".join(f"{g.instrument} art. {g.article}" for g in match.grounds)
        print(f"  {match.decision.value}: {match.policy} — {grounds}")
        for item in match.evidence:
            where = f"[{item.start}:{item.end}]" if item.start is not None else ""
            print(f"      {item.field}{where} {item.text!r} ({item.lexicon or item.condition})")
    print()
    listing = validate_listing(raw, fields=bundle.policy_set.fields)
    for trace in Explainer(bundle).trace(listing, day, set(arguments.policy) if arguments.policy else None):
        print(trace.render())
        print()
    return 0
