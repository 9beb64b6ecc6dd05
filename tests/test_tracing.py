"""OpenTelemetry tracing: a real server exports a span per call over OTLP/HTTP to a receiver on
loopback, joined to the caller's trace; the option is refused where it would leak or cannot work."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from tamis.service.server import config as settings
from tamis.v1 import policy_service_pb2
from tests.test_server_harness import PATIENCE, proto_listing, sample, serving

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"


class Receiver(ThreadingHTTPServer):
    """An OTLP/HTTP traces endpoint keeping every export request it is sent."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[trace_service_pb2.ExportTraceServiceRequest] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1/traces"


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        request = trace_service_pb2.ExportTraceServiceRequest()
        request.ParseFromString(body)
        self.server.requests.append(request)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()
        self.wfile.write(trace_service_pb2.ExportTraceServiceResponse().SerializeToString())

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def test_each_call_is_a_span_in_the_callers_trace() -> None:
    with receiver() as collector:
        with serving(trace_endpoint=collector.url) as served:
            request = policy_service_pb2.EvaluateRequest(listing=proto_listing(sample("s-003")))
            metadata = (("traceparent", f"00-{TRACE_ID}-{PARENT_ID}-01"),)
            served.stub.Evaluate(request, timeout=PATIENCE, metadata=metadata)
            with pytest.raises(grpc.RpcError):
                served.stub.Evaluate(policy_service_pb2.EvaluateRequest(), timeout=PATIENCE)
            messages = [policy_service_pb2.EvaluateStreamRequest(listings=[request.listing])] * 2
            assert len(list(served.stub.EvaluateStream(iter(messages), timeout=PATIENCE))) == 2
        # stopping the server flushed the spans
        spans = [
            span
            for export in collector.requests
            for resource in export.resource_spans
            for scope in resource.scope_spans
            for span in scope.spans
        ]
        evaluate, stream = "/tamis.v1.PolicyService/Evaluate", "/tamis.v1.PolicyService/EvaluateStream"
        assert sorted(span.name for span in spans) == [evaluate, evaluate, stream]
        joined, alone, streamed = sorted(spans, key=lambda span: span.start_time_unix_nano)
        assert joined.trace_id.hex() == TRACE_ID
        assert joined.parent_span_id.hex() == PARENT_ID
        assert alone.trace_id.hex() != TRACE_ID and not alone.parent_span_id
        codes = [_attributes(span)["rpc.grpc.status_code"].int_value for span in (joined, alone, streamed)]
        assert codes == [0, grpc.StatusCode.INVALID_ARGUMENT.value[0], 0]
        assert [span.status.code for span in (joined, alone, streamed)] == [
            joined.status.STATUS_CODE_UNSET,
            joined.status.STATUS_CODE_ERROR,
            joined.status.STATUS_CODE_UNSET,
        ]
        assert _attributes(streamed)["rpc.method"].string_value == "EvaluateStream"
        resource = collector.requests[0].resource_spans[0].resource
        assert {"key": "tamis.service.name", "value": "tamis"} in [
            {"key": attribute.key, "value": attribute.value.string_value} for attribute in resource.attributes
        ]
        for span in spans:  # no listing content, no error text in a span
            assert "poing" not in str(span).lower() and "required" not in str(span)


def _attributes(span: Any) -> dict[str, Any]:
    return {attribute.key: attribute.value for attribute in span.attributes}


def test_trace_endpoint_is_off_by_default_and_never_clear_text_off_loopback() -> None:
    assert settings.resolve(environ={}).trace_endpoint is None
    local = "http://127.0.0.1:4318/v1/traces"
    assert settings.resolve(environ={"TAMIS_TRACE_ENDPOINT": local}).trace_endpoint == local
    remote = "https://collector.example:4318/v1/traces"
    assert settings.resolve(environ={"TAMIS_TRACE_ENDPOINT": remote}).trace_endpoint == remote
    with pytest.raises(settings.ConfigError, match="clear text"):
        settings.resolve(environ={"TAMIS_TRACE_ENDPOINT": "http://10.0.0.1:4318/v1/traces"})
    with pytest.raises(settings.ConfigError, match="expected an http"):
        settings.resolve(environ={"TAMIS_TRACE_ENDPOINT": "127.0.0.1:4318"})
