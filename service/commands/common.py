"""What several subcommands share: where the policies are, and loading them with clear errors."""

from __future__ import annotations

import argparse
import os
import sys
from datetime import date
from pathlib import Path

from tamis.engine import Bundle, PolicySetError, load_bundle, parse_day

DEFAULT_POLICIES = Path(os.environ.get("TAMIS_POLICIES", "policies"))


def add_policies_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--policies",
        type=Path,
        default=DEFAULT_POLICIES,
        metavar="DIR",
        help="policy pack directory (default: $TAMIS_POLICIES or ./policies)",
    )


def day_argument(text: str) -> date:
    """A YYYY-MM-DD option, refused with the reason (argparse would only say 'invalid value')."""
    try:
        return parse_day(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from error


def add_as_of_option(parser: argparse.ArgumentParser, default: str = "today in Europe/Paris") -> None:
    parser.add_argument(
        "--as-of",
        type=day_argument,
        default=None,
        metavar="YYYY-MM-DD",
        help=f"judge under the law in force on this date (default: {default})",
    )


def load_or_report(directory: Path) -> Bundle | None:
    """The bundle, or None after printing every problem as file:line:column: message."""
    try:
        return load_bundle(directory)
    except FileNotFoundError as error:
        print(f"tamis: {error}", file=sys.stderr)
    except PolicySetError as error:
        for problem in error.problems:
            print(
                f"{directory / str(problem.location)}: error: {problem.message}"
                + (f" (at {problem.path})" if problem.path else ""),
                file=sys.stderr,
            )
        print(f"tamis: {len(error.problems)} problem(s); nothing was loaded", file=sys.stderr)
    return None
