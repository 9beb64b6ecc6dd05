"""`tamis serve`: the gRPC service (PolicyService, health, reflection) on the bundled policies."""

from __future__ import annotations

import argparse
import contextlib
import sys

from tamis.service.server import app, logs, metrics, workers
from tamis.service.server import config as settings


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "serve",
        help="serve the gRPC API",
        description="Serve tamis.v1.PolicyService, gRPC health and reflection. Options come from "
        "flags, else TAMIS_* environment variables, else a TOML file (--config), else defaults. "
        "SIGHUP reloads the policies; SIGTERM drains and stops.",
    )
    settings.add_arguments(parser)
    parser.set_defaults(handler=run)


def run(arguments: argparse.Namespace) -> int:
    try:
        config = settings.resolve(arguments)
    except settings.ConfigError as error:
        print(f"tamis serve: {error}", file=sys.stderr)
        return 2
    logs.configure(config.log_format, config.log_level)
    with contextlib.ExitStack() as stack:
        try:
            port = stack.enter_context(
                metrics.exposed(config.metrics_host, config.metrics_port, config.workers)
            )
        except OSError as error:
            logs.logger().error("cannot listen for metrics", port=config.metrics_port, error=str(error))
            return app.EXIT_CANNOT_LISTEN
        if port is not None:
            logs.logger().info("metrics listening", host=config.metrics_host, port=port)
        if config.workers > 1:
            return workers.supervise(config)
        return app.run(config)
