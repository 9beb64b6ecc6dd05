"""OpenTelemetry traces of the gRPC calls: optional (`pip install 'tamis[tracing]'`), off unless
`trace_endpoint` names an OTLP/HTTP traces endpoint.

Each call becomes a server span named after its method (`/tamis.v1.PolicyService/Evaluate`),
child of the caller's span when the call carries W3C `traceparent` metadata, with the standard
`rpc.*` attributes and the final status code; a span ends when its call does (a stream: when
its last response is sent). Spans never carry listing content nor error details (which may
quote input). They are exported in batches from a background thread, so a slow collector never
delays a call; each server process (each worker) has its own exporter, flushed on stop.

The interceptor is written here rather than taken from opentelemetry-instrumentation-grpc,
whose server spans report status OK for calls ended by `abort_with_status` (how Tamis ends
every failed call, to attach google.rpc details) and record the error text as an event.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import grpc

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

        resource = Resource.create({"service.name": "tamis", "process.pid": os.getpid()})
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


class _ServerSpans(grpc.ServerInterceptor):
    """Wraps each method's behaviour in a server span."""

    def __init__(self, tracer: Any) -> None:
        from opentelemetry import propagate, trace  # noqa: PLC0415

        self._tracer = tracer
        self._extract = propagate.extract
        self._server_kind = trace.SpanKind.SERVER
        self._error = trace.Status(trace.StatusCode.ERROR)

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler[Any, Any] | None],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = continuation(details)
        if handler is None:
            return None
        method: str = details.method
        behaviours = {
            "unary_unary": self._unary,
            "stream_unary": self._unary,
            "unary_stream": self._streaming,
            "stream_stream": self._streaming,
        }
        for kind, wrap in behaviours.items():
            behaviour = getattr(handler, kind)
            if behaviour is not None:
                return handler._replace(**{kind: wrap(behaviour, method)})  # type: ignore[attr-defined,no-any-return]
        return handler

    def _unary(self, behaviour: Callable[[Any, grpc.ServicerContext], Any], method: str) -> Any:
        def run(request: Any, context: grpc.ServicerContext) -> Any:
            span = self._start(method, context)
            try:
                result = behaviour(request, context)
            except BaseException:
                self._end(span, context, failed=True)
                raise
            self._end(span, context, failed=False)
            return result

        return run

    def _streaming(self, behaviour: Callable[[Any, grpc.ServicerContext], Iterator[Any]], method: str) -> Any:
        def run(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            span = self._start(method, context)
            try:
                yield from behaviour(request, context)
            except BaseException:  # an abort, a crash, or the caller gone (GeneratorExit)
                self._end(span, context, failed=True)
                raise
            self._end(span, context, failed=False)

        return run

    def _start(self, method: str, context: grpc.ServicerContext) -> Any:
        service, _, name = method.lstrip("/").partition("/")
        carrier = {key: value for key, value in context.invocation_metadata() if isinstance(value, str)}
        return self._tracer.start_span(
            method,
            context=self._extract(carrier),
            kind=self._server_kind,
            attributes={"rpc.system": "grpc", "rpc.service": service, "rpc.method": name},
        )

    def _end(self, span: Any, context: grpc.ServicerContext, *, failed: bool) -> None:
        """Record the call's status: the code it was aborted with, else UNKNOWN if it raised."""
        code = context.code()  # type: ignore[attr-defined]
        default = grpc.StatusCode.UNKNOWN if failed else grpc.StatusCode.OK
        status = code if isinstance(code, grpc.StatusCode) else default
        span.set_attribute("rpc.grpc.status_code", status.value[0])
        if status is not grpc.StatusCode.OK:
            span.set_status(self._error)
        span.end()
