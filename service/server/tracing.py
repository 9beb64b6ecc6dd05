"""OpenTelemetry traces of the gRPC calls: optional (`pip install 'tamis[tracing]'`), off unless
`trace_endpoint` names an OTLP/HTTP traces endpoint.

Each call becomes a server span named after its method (`/tamis.v1.PolicyService/Evaluate`),
child of the caller's span when the call carries W3C `traceparent` metadata, with the standard
`rpc.*` attributes and the final status code; a span ends when its call does (a stream: when
its last response is sent). Spans never carry listing content nor error details (which may
quote input). They are exported in batches from a background thread, so a slow collector never
delays a call; each server process (each worker) has its own exporter, flushed on stop.

The interceptor is Tamis's own (service/server/calls.py) rather than opentelemetry-
instrumentation-grpc's, whose server spans report status OK for calls ended by
`abort_with_status` (how Tamis ends every failed call, to attach google.rpc details) and
record the error text as an event.
"""

from __future__ import annotations

import os
from typing import Any

import grpc

from tamis.service.server.calls import CallObserver

#: Spans waiting for export beyond this are dropped (counted by the SDK), never held in memory.
MAX_QUEUE = 8192


class Tracing:
    """The interceptors to give the gRPC server, and `close` to flush the spans still queued."""

    def __init__(self, endpoint: str | None) -> None:
        self.interceptors: list[grpc.ServerInterceptor] = []
        self._provider: Any = None
        if endpoint is None:
            return
        # imported here: the packages are optional (config.py checks them when the option is set)
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter  # noqa: PLC0415
        from opentelemetry.sdk.resources import Resource  # noqa: PLC0415
        from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415
        from opentelemetry.sdk.trace.export import BatchSpanProcessor  # noqa: PLC0415

        resource = Resource.create({"tamis.service.name": "tamis", "process.pid": os.getpid()})
        self._provider = TracerProvider(resource=resource)
        self._provider.add_span_processor(
            BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint), max_queue_size=MAX_QUEUE)
        )
        self.interceptors.append(_ServerSpans(self._provider.get_tracer("tamis.server")))

    def close(self) -> None:
        """Export the spans still queued (bounded by the exporter's timeout), then stop."""
        if self._provider is not None:
            self._provider.shutdown()
            self._provider = None


class _ServerSpans(CallObserver):
    """A server span per call, ended with the call's status code."""

    def __init__(self, tracer: Any) -> None:
        from opentelemetry import propagate, trace  # noqa: PLC0415

        super().__init__()
        self._tracer = tracer
        self._extract = propagate.extract
        self._server_kind = trace.SpanKind.SERVER
        self._error = trace.Status(trace.StatusCode.ERROR)

    def started(self, service: str, method: str, context: grpc.ServicerContext) -> Any:
        carrier = {key: value for key, value in context.invocation_metadata() if isinstance(value, str)}
        return self._tracer.start_span(
            f"/{service}/{method}",
            context=self._extract(carrier),
            kind=self._server_kind,
            attributes={"rpc.system": "grpc", "rpc.service": service, "rpc.method": method},
        )

    def ended(self, token: Any, code: grpc.StatusCode) -> None:
        token.set_attribute("rpc.grpc.status_code", code.value[0])
        if code is not grpc.StatusCode.OK:
            token.set_status(self._error)
        token.end()
