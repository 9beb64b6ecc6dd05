"""`tamis docs [DIR]`: write the readable catalogue of a policy pack (DIR/CATALOGUE.md)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tamis.engine import render_catalogue
from tamis.service.commands.common import DEFAULT_POLICIES, load_or_report


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "docs",
        help="write the policy catalogue (CATALOGUE.md)",
        description="Render every policy of the pack, grouped by family, with its decision, countries, "
        "dates, confidence and legal grounds, as Markdown.",
    )
    parser.add_argument("directory", nargs="?", type=Path, default=DEFAULT_POLICIES)
    parser.add_argument(
        "--out", type=Path, default=None, metavar="FILE", help="where to write (default: DIR/CATALOGUE.md)"
    )
    parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if the file is not current"
    )
    parser.set_defaults(handler=run)


def run(arguments: argparse.Namespace) -> int:
    bundle = load_or_report(arguments.directory)
    if bundle is None:
        return 1
    out: Path = arguments.out or arguments.directory / "CATALOGUE.md"
    text = render_catalogue(bundle.policy_set)
    if arguments.check:
        current = out.read_text(encoding="utf-8") if out.is_file() else None
        if current != text:
            print(f"tamis: {out} is not current; run `tamis docs`", file=sys.stderr)
            return 1
        print(f"{out} is current")
        return 0
    out.write_text(text, encoding="utf-8")
    print(f"wrote {out} ({len(bundle.policy_set.policies)} policies)")
    return 0
