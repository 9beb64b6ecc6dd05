"""`--workers N`: N server processes on one port, each with its own engine.

durable-rules keeps its state global to a process and the engine serialises calls within one,
so more cores need more processes. Each worker binds the same port with SO_REUSEPORT and the
kernel spreads connections among them. The supervisor forwards SIGTERM/SIGINT (drain and stop)
and SIGHUP (reload) to every worker, restarts a worker that dies on its own, and exits 0 once
all workers have stopped cleanly.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import socket
import time
from collections.abc import Iterable
from dataclasses import replace
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from types import FrameType

from tamis.service.server import app, logs, metrics
from tamis.service.server.config import ServeConfig

#: Seconds before a dead worker is started again (a worker that cannot start must not spin).
RESTART_DELAY = 1.0


def _worker(config: ServeConfig, index: int, make_sink: app.SinkFactory) -> None:
    logs.configure(config.log_format, config.log_level, worker=index)
    # A checkpoint covers every writer of the log: worker 0 alone signs them.
    raise SystemExit(app.run(config, make_sink, reuse_port=True, checkpoints=index == 0))


def _reserve_port(host: str) -> socket.socket:
    """A socket holding a free port with SO_REUSEPORT, so workers can bind it too (port 0)."""
    holder = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    holder.bind((host, 0))
    return holder


def supervise(config: ServeConfig, make_sink: app.SinkFactory = app.configured_sink) -> int:
    """Run `config.workers` server processes until SIGTERM/SIGINT; returns the exit code."""
    log = logs.logger()
    holder = _reserve_port(config.host) if config.port == 0 else None
    if holder is not None:
        config = replace(config, port=holder.getsockname()[1])
    context = multiprocessing.get_context("spawn")
    stopping = False

    def start(index: int) -> BaseProcess:
        process = context.Process(
            target=_worker, args=(config, index, make_sink), name=f"tamis-worker-{index}", daemon=False
        )
        process.start()
        log.info("worker started", worker=index, pid=process.pid, port=config.port)
        return process

    workers = {index: start(index) for index in range(config.workers)}

    def forward(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        sent = signal.SIGHUP if signum == signal.SIGHUP else signal.SIGTERM
        stopping = stopping or sent == signal.SIGTERM
        _send(workers.values(), sent)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, forward)
    try:
        while not stopping:
            wait([process.sentinel for process in workers.values()], timeout=1.0)
            for index, process in list(workers.items()):
                if process.exitcode == app.EXIT_CANNOT_LISTEN:
                    log.error("a worker cannot listen; stopping", worker=index, port=config.port)
                    forward(signal.SIGTERM, None)
                elif process.exitcode is not None and not stopping:
                    log.error(
                        "worker died; restarting it", worker=index, pid=process.pid, exitcode=process.exitcode
                    )
                    metrics.worker_exited(process.pid or 0)
                    time.sleep(RESTART_DELAY)
                    workers[index] = start(index)
                    if stopping:  # SIGTERM came while it was being started
                        _send([workers[index]], signal.SIGTERM)
        for signum in (signal.SIGTERM, signal.SIGINT):  # every worker has it already
            signal.signal(signum, signal.SIG_IGN)
        for process in workers.values():
            process.join()
    finally:
        if holder is not None:
            holder.close()
    codes = {index: process.exitcode for index, process in workers.items()}
    log.info("workers stopped", exitcodes=codes)
    return 0 if all(code == 0 for code in codes.values()) else 1


def _send(processes: Iterable[BaseProcess], signum: int) -> None:
    for process in processes:
        if process.pid is not None and process.exitcode is None:
            os.kill(process.pid, signum)
