"""`tamis test [DIR]`: run every policy's examples and report coverage."""

from __future__ import annotations

import argparse
from pathlib import Path

from tamis.engine import run_examples
from tamis.service.commands.common import DEFAULT_POLICIES, load_or_report


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "test",
        help="run the policies' examples through the engine",
        description="Each policy's `match` examples must match it and its `no_match` examples "
        "must not. Prints a line per policy, then policy and condition coverage.",
    )
    parser.add_argument("directory", nargs="?", type=Path, default=DEFAULT_POLICIES)
    parser.add_argument(
        "--min-coverage",
        type=float,
        default=0.0,
        metavar="PERCENT",
        help="fail when policy or condition coverage is below this",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="list uncovered conditions")
    parser.set_defaults(handler=run)


def _percent(part: int, whole: int) -> float:
    return 100.0 * part / whole if whole else 100.0


def run(arguments: argparse.Namespace) -> int:
    bundle = load_or_report(arguments.directory)
    if bundle is None:
        return 1
    report = run_examples(bundle)
    for policy in report.policies:
        passed = sum(result.passed for result in policy.results)
        covered = sum(policy.conditions.values())
        status = "PASS" if policy.passed else "FAIL"
        print(
            f"{status} {policy.policy.id}  examples {passed}/{len(policy.results)}, "
            f"conditions {covered}/{len(policy.conditions)}"
        )
        for result in policy.results:
            if not result.passed:
                where = f"{arguments.directory}/{result.location}"
                print(f"  {where}: {result.kind}[{result.index}]: {result.reason}")
        if arguments.verbose:
            for path, exercised in policy.conditions.items():
                if not exercised:
                    print(f"  not exercised: {path}")
    policies, total_policies = report.policy_coverage()
    conditions, total_conditions = report.condition_coverage()
    policy_share, condition_share = _percent(policies, total_policies), _percent(conditions, total_conditions)
    failed = sum(not policy.passed for policy in report.policies)
    print(
        f"\n{len(report.policies) - failed}/{len(report.policies)} policies pass; coverage: "
        f"policies {policies}/{total_policies} ({policy_share:.1f}%), "
        f"conditions {conditions}/{total_conditions} ({condition_share:.1f}%)"
    )
    if failed:
        return 1
    if min(policy_share, condition_share) < arguments.min_coverage:
        print(f"coverage below {arguments.min_coverage}%")
        return 1
    return 0
