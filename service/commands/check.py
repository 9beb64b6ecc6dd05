"""`tamis check [DIR]`: validate a policy pack and lint it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tamis.engine import lint, slow_patterns, today
from tamis.service.commands.common import DEFAULT_POLICIES, load_or_report


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "check",
        help="validate and lint a policy pack",
        description="Validate every file of a policy pack (errors name file:line:column), "
        "refuse regular expressions too slow on adversarial text, and lint it: policies "
        "without examples, doubtful grounds, policies not in force.",
    )
    parser.add_argument("directory", nargs="?", type=Path, default=DEFAULT_POLICIES)
    parser.add_argument("--strict", action="store_true", help="exit non-zero on warnings too")
    parser.set_defaults(handler=run)


def run(arguments: argparse.Namespace) -> int:
    bundle = load_or_report(arguments.directory)
    if bundle is None:
        return 1
    slow = slow_patterns(bundle.policy_set)
    for problem in slow:
        print(
            f"{arguments.directory / str(problem.location)}: error: {problem.message} (at {problem.path})",
            file=sys.stderr,
        )
    if slow:
        print(f"tamis: {len(slow)} regular expression(s) too slow on hostile text", file=sys.stderr)
        return 1
    warnings = lint(bundle.policy_set, today())
    for warning in warnings:
        print(f"{arguments.directory}/{warning}")
    policy_set = bundle.policy_set
    print(
        f"ok: {len(policy_set.policies)} policies, {len(policy_set.instruments)} instruments, "
        f"{len(policy_set.lexicons)} lexicons, {len(bundle.program.rules)} engine rules; "
        f"{len(warnings)} warning(s); bundle {bundle.digest}"
    )
    return 1 if warnings and arguments.strict else 0
