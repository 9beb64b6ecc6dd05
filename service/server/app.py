"""One server process: PolicyService, health and reflection on one port, with hot reload.

Health says NOT_SERVING until a bundle is loaded, SERVING from then on (a rejected reload keeps
the last good bundle serving), and NOT_SERVING again once shutdown begins. SIGTERM (or SIGINT)
stops accepting calls, lets in-flight calls finish (up to `grace` seconds), flushes the verdict
sink and exits 0; SIGHUP reloads the policies. A handler still running STOP_MARGIN seconds after
the grace period (a call gRPC left half-finished, an engine stall) is abandoned: it must not keep
the process alive until someone sends SIGKILL.
"""

from __future__ import annotations

import itertools
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from types import FrameType

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from tamis.engine import Bundle
from tamis.service.server import metrics
from tamis.service.server.access import AccessControl
from tamis.service.server.audit_service import AuditService
from tamis.service.server.audit_workers import AuditWorkers
from tamis.service.server.checkpointer import Checkpointer
from tamis.service.server.config import ServeConfig
from tamis.service.server.decoding import add_tolerant_servicer
from tamis.service.server.live import LiveEvaluator
from tamis.service.server.logs import logger
from tamis.service.server.policy_service import PolicyService
from tamis.service.server.reload import PolicyReloader
from tamis.service.server.sink import NullSink, VerdictSink
from tamis.service.server.streams import StreamGuard
from tamis.service.server.tls import TlsError, is_loopback, server_credentials
from tamis.service.server.tracing import Tracing
from tamis.service.verdictlog import AuditLog, open_database
from tamis.service.verdictlog.checkpoint import CheckpointError
from tamis.service.verdictlog.sink import LogSink
from tamis.v1 import audit_pb2, audit_pb2_grpc, policy_service_pb2, policy_service_pb2_grpc

POLICY_SERVICE = policy_service_pb2.DESCRIPTOR.services_by_name["PolicyService"].full_name
AUDIT_SERVICE = audit_pb2.DESCRIPTOR.services_by_name["AuditService"].full_name
SERVICE_NAMES = (POLICY_SERVICE, AUDIT_SERVICE, health.SERVICE_NAME, reflection.SERVICE_NAME)

SinkFactory = Callable[[ServeConfig], VerdictSink]

#: Seconds past the grace period that stopping waits for gRPC and the handlers before abandoning them.
STOP_MARGIN = 2.0
#: Numbers the handler threads of each server apart (tests run several servers in one process).
_SERVERS = itertools.count()

#: Exit code of a server that could not bind its address (the supervisor does not restart it).
EXIT_CANNOT_LISTEN = 3
#: Exit code of a server whose TLS or checkpoint key files cannot serve (a usage error: fix them).
EXIT_BAD_KEYS = 2


def null_sink(config: ServeConfig) -> VerdictSink:
    return NullSink()


def configured_sink(config: ServeConfig) -> VerdictSink:
    """The verdict log `config.log` names (a writer of its own in each process), or none."""
    if config.log == "off":
        return NullSink()
    return LogSink(
        open_database(config.log, sync=config.log_sync),
        label=f"tamis serve {config.address}",
        observer=metrics.log_commit,
    )


class TamisServer:
    """The gRPC server of one process; `start`, then `stop` once."""

    def __init__(
        self,
        config: ServeConfig,
        sink: VerdictSink | None = None,
        *,
        reuse_port: bool = False,
        checkpoints: bool = True,
    ) -> None:
        """`checkpoints`: sign checkpoints if configured (one process of several does)."""
        self.config = config
        self.sink = sink or NullSink()
        self.audit = (
            None if config.log == "off" else AuditLog(open_database(config.log, create=False, read_only=True))
        )
        self.live = LiveEvaluator()
        self.draining = threading.Event()
        self.health = health.HealthServicer()
        for name in ("", POLICY_SERVICE):
            self.health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
        self._log = logger()
        size = config.max_message_bytes
        self._thread_prefix = f"tamis-rpc-{next(_SERVERS)}"
        self._executor = ThreadPoolExecutor(
            max_workers=config.threads, thread_name_prefix=self._thread_prefix
        )
        self._tracing = Tracing(config.trace_endpoint)
        self._server = grpc.server(
            self._executor,
            interceptors=[
                metrics.ServerCalls(),
                *self._tracing.interceptors,
                *([AccessControl(config.access)] if config.client_ca else []),
            ],
            options=[
                ("grpc.max_receive_message_length", size),
                ("grpc.max_send_message_length", size),
                ("grpc.so_reuseport", int(reuse_port)),
            ],
        )
        self.streams = StreamGuard(config.max_streams_per_caller, config.stream_idle_timeout)
        service = PolicyService(self.live, self.sink, config, self.draining, self.streams)
        add_tolerant_servicer(
            policy_service_pb2_grpc.add_PolicyServiceServicer_to_server, service, self._server
        )
        self.audit_workers = (
            None if config.log == "off" else AuditWorkers(config.log, config.audit_calls_per_caller)
        )
        add_tolerant_servicer(
            audit_pb2_grpc.add_AuditServiceServicer_to_server,
            AuditService(self.audit, self.audit_workers),
            self._server,
        )
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self._server)
        reflection.enable_server_reflection(SERVICE_NAMES, self._server)
        self.port = self._listen(config)
        self.checkpointer = (
            Checkpointer(config.log, config.checkpoint_key, config.checkpoint_dir, config.checkpoint_interval)
            if checkpoints and config.checkpoint_key and config.checkpoint_dir
            else None
        )
        self.reloader = PolicyReloader(
            directory=config.policies,
            live=self.live,
            limits=config.limits,
            sink=self.sink,
            interval=config.reload_interval,
            on_loaded=self._serving,
        )

    def _listen(self, config: ServeConfig) -> int:
        if config.tls_cert is None or config.tls_key is None:
            return self._server.add_insecure_port(config.address)
        credentials = server_credentials(config.tls_cert, config.tls_key, config.client_ca)
        return self._server.add_secure_port(config.address, credentials)

    def start(self) -> None:
        """Listen, then load the policies (health turns SERVING once they load) and watch them."""
        self._server.start()
        config = self.config
        transport = "mutual tls" if config.client_ca else "tls" if config.tls_cert else "clear text"
        self._log.info(
            "listening", host=config.host, port=self.port, transport=transport, policies=str(config.policies)
        )
        if not config.client_ca and not is_loopback(config.host):
            self._log.warning("callers are not authenticated: every call is allowed", transport=transport)
        self.reloader.load("start")
        self.reloader.start()
        if self.checkpointer is not None:
            self.checkpointer.start()

    def reload(self) -> None:
        """Reload the policies now (what SIGHUP does)."""
        self.reloader.request()

    def stop(self, grace: float | None = None) -> bool:
        """Refuse new calls, let in-flight ones finish (up to `grace` seconds), then flush.
        False if handlers were still running STOP_MARGIN seconds after the grace period."""
        grace = self.config.grace if grace is None else grace
        self._log.info("stopping", grace_seconds=grace)
        deadline = time.monotonic() + grace + STOP_MARGIN
        self.health.enter_graceful_shutdown()
        self.draining.set()
        self.reloader.stop()
        if not self._server.stop(grace).wait(grace + STOP_MARGIN):
            self._log.warning("gRPC still holds calls after the grace period; stopping without them")
        if self.audit_workers is not None:
            self.audit_workers.close()  # handlers waiting on a replay or verification return now
        self._executor.shutdown(wait=False, cancel_futures=True)
        running = self._running_handlers(deadline)
        if running:
            # The sink closes below: a verdict these handlers reach now is refused, never returned.
            self._log.warning("handlers still running after the grace period; abandoned", handlers=running)
        self.streams.stop()
        self.live.close()
        self.sink.close()
        if self.checkpointer is not None:
            self.checkpointer.stop()  # after the sink's last verdict: the final checkpoint covers it
        self._tracing.close()
        if self.audit is not None:
            self.audit.close()
        self._log.info("stopped")
        return not running

    def _running_handlers(self, deadline: float) -> int:
        """Wait for this server's handler threads until `deadline`; how many still run."""
        threads = [
            thread for thread in threading.enumerate() if thread.name.startswith(f"{self._thread_prefix}_")
        ]
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return sum(thread.is_alive() for thread in threads)

    def _serving(self, bundle: Bundle) -> None:
        for name in ("", POLICY_SERVICE):
            self.health.set(name, health_pb2.HealthCheckResponse.SERVING)


def run(
    config: ServeConfig,
    make_sink: SinkFactory = configured_sink,
    *,
    reuse_port: bool = False,
    checkpoints: bool = True,
) -> int:
    """Serve until SIGTERM or SIGINT; SIGHUP reloads. Returns the exit code (0 after a clean stop)."""
    stop = threading.Event()
    try:
        server = TamisServer(config, make_sink(config), reuse_port=reuse_port, checkpoints=checkpoints)
    except RuntimeError as error:  # grpc's way of saying the address cannot be bound
        logger().error("cannot listen", address=config.address, error=str(error))
        return EXIT_CANNOT_LISTEN
    except (OSError, TlsError, CheckpointError) as error:
        logger().error("cannot load keys", error=str(error))
        return EXIT_BAD_KEYS

    def on_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    def on_hangup(signum: int, frame: FrameType | None) -> None:
        server.reload()

    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)
    signal.signal(signal.SIGHUP, on_hangup)
    server.start()
    stop.wait()
    # Draining: a repeated SIGTERM (a supervisor, an impatient operator) must not kill the
    # process halfway; SIG_IGN also holds through interpreter shutdown, unlike a handler.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if not server.stop():
        # Interpreter shutdown would wait for the abandoned handler threads: leave without it.
        sys.stderr.flush()
        os._exit(0)
    return 0
