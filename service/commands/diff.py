"""`tamis diff OLD NEW`: what differs between two policy packs, before anyone judges a listing.

Exit status: 0 when the packs are identical, 1 when they differ (as diff(1)), 2 when one
cannot be loaded.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from tamis.engine import diff_bundles
from tamis.service.commands.common import load_or_report


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "diff",
        help="show what differs between two policy packs",
        description="The policies added, removed and changed (decision, dates, countries, each "
        "condition and ground), and the lexicon terms, instruments, lists and attributes that "
        "differ. Exit 0: identical; 1: they differ; 2: a pack does not load.",
    )
    parser.add_argument("old", type=Path, metavar="OLD", help="the pack as it is (a directory)")
    parser.add_argument("new", type=Path, metavar="NEW", help="the pack as proposed (a directory)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.set_defaults(handler=run)


def run(arguments: argparse.Namespace) -> int:
    old = load_or_report(arguments.old)
    new = load_or_report(arguments.new) if old is not None else None
    if old is None or new is None:
        return 2
    difference = diff_bundles(old, new)
    if arguments.json:
        print(json.dumps(difference.to_dict(), ensure_ascii=False, indent=2))
    else:
        for line in difference.lines():
            print(line)
    return 0 if difference.empty else 1
