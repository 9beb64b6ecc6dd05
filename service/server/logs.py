"""Structured logs: one JSON object per line, or a readable line when stderr is a terminal.

Every request logs one `request` event (request id, method, listing ids, decisions, matched
policies, bundle digest, latency, status); listing text only when the operator asks for it.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import TextIO

import structlog


def configure(
    log_format: str = "auto", level: str = "info", stream: TextIO | None = None, worker: int | None = None
) -> None:
    """Set up structlog for this process; a worker's lines carry its index and pid."""
    stream = stream or sys.stderr
    console = log_format == "console" or (log_format == "auto" and stream.isatty())
    renderer: structlog.typing.Processor = (
        structlog.dev.ConsoleRenderer() if console else structlog.processors.JSONRenderer()
    )
    structlog.configure(
        processors=[
            *([_WorkerStamp(worker)] if worker is not None else []),
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelNamesMapping()[level.upper()]),
        logger_factory=structlog.WriteLoggerFactory(file=stream),
        cache_logger_on_first_use=False,
    )


class _WorkerStamp:
    """Adds the worker's index and pid to every event."""

    __slots__ = ("pid", "worker")

    def __init__(self, worker: int) -> None:
        self.worker = worker
        self.pid = os.getpid()

    def __call__(
        self, logger: object, method: str, event: structlog.typing.EventDict
    ) -> structlog.typing.EventDict:
        event["worker"] = self.worker
        event["pid"] = self.pid
        return event


def logger(**context: object) -> structlog.typing.FilteringBoundLogger:
    """The server's logger, with `context` bound to every event."""
    bound: structlog.typing.FilteringBoundLogger = structlog.get_logger("tamis").bind(**context)
    return bound
