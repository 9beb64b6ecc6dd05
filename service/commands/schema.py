"""`tamis schema`: write the JSON Schemas of the policy formats for editors."""

from __future__ import annotations

import argparse
from pathlib import Path

from tamis.engine import write_schemas
from tamis.service.commands.common import add_policies_option, load_or_report


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "schema",
        help="write JSON Schemas of the policy formats",
        description="Generate the JSON Schemas (policy, instrument, lexicon, list, attributes) "
        "from the engine's models and the pack's declared attributes, for editor completion "
        "and validation.",
    )
    add_policies_option(parser)
    parser.add_argument("--out", type=Path, default=Path("policies/schema"), metavar="DIR")
    parser.set_defaults(handler=run)


def run(arguments: argparse.Namespace) -> int:
    bundle = load_or_report(arguments.policies)
    if bundle is None:
        return 1
    for path in write_schemas(arguments.out, bundle.policy_set.fields):
        print(f"wrote {path}")
    return 0
