"""`tamis schema`: write the JSON Schemas of the policy formats for editors."""

from __future__ import annotations

import argparse
from pathlib import Path

from engine.jsonschema import write_all


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "schema",
        help="write JSON Schemas of the policy formats",
        description="Generate the JSON Schemas (policy, instrument, lexicon, list, attributes) "
        "from the engine's models, for editor completion and validation.",
    )
    parser.add_argument("--out", type=Path, default=Path("policies/schema"), metavar="DIR")
    parser.set_defaults(handler=run)


def run(arguments: argparse.Namespace) -> int:
    for path in write_all(arguments.out):
        print(f"wrote {path}")
    return 0
