"""The `tamis` command line: one subcommand per module in service.commands."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from tamis.service.commands import (
    audit,
    backtest,
    check,
    diff,
    docs,
    evaluate,
    examples,
    explain,
    schema,
    serve,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tamis",
        description="Prohibited-product policies: check, test, evaluate, explain and serve them.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (check, examples, evaluate, explain, schema, docs, serve, audit, diff, backtest):
        module.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    arguments = parser.parse_args(argv)
    try:
        code: int = arguments.handler(arguments)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # e.g. `tamis eval … | head`
        sys.stderr.close()
        return 0
    return code


if __name__ == "__main__":
    sys.exit(main())
