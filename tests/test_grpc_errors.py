"""Every error path of PolicyService: the status code, and the details a client can act on."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from tamis.engine import Verdict
from tamis.service.server.sink import MemorySink
from tamis.service.verdictlog import Receipt
from tamis.service.verdictlog.records import Caller
from tamis.v1 import listing_pb2, policy_service_pb2
from tests.conftest import samples
from tests.test_server_harness import PATIENCE, Served, proto_listing, sample, serving, wait_until

LIMITS = {
    "max_text_chars": 300,
    "max_attributes": 4,
    "max_ship_to": 3,
    "max_list_items": 2,
    "max_listing_bytes": 2048,
    "max_message_bytes": 64 * 1024,
    "max_batch": 20,
}


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    with serving(**LIMITS) as running:
        yield running


def call_error(served: Served, listing: listing_pb2.Listing | None, as_of: str = "") -> grpc.RpcError:
    request = policy_service_pb2.EvaluateRequest(listing=listing, as_of=as_of)
    with pytest.raises(grpc.RpcError) as raised:
        served.stub.Evaluate(request, timeout=PATIENCE)
    error = raised.value
    assert isinstance(error, grpc.Call)
    return error


def violations(error: grpc.RpcError) -> dict[str, str]:
    """The google.rpc.BadRequest field violations of a failed call, by field."""
    assert isinstance(error, grpc.Call)
    status = rpc_status.from_call(error)
    assert status is not None
    (detail,) = status.details
    bad_request = error_details_pb2.BadRequest()
    assert detail.Unpack(bad_request)
    return {violation.field: violation.description for violation in bad_request.field_violations}


def with_changes(listing_id: str, **changes: Any) -> listing_pb2.Listing:
    return proto_listing({**sample(listing_id), **changes})


def test_invalid_listing_names_every_bad_field() -> None:
    """INVALID_ARGUMENT with one BadRequest violation per field, as a path in the request."""
    with serving(**LIMITS) as served:
        listing = proto_listing({"id": "x", "title": " ", "ship_to": ["FR", "ZZ"], "gtin": "12"})
        error = call_error(served, listing)
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert set(violations(error)) == {"listing.title", "listing.ship_to[1]", "listing.gtin"}
        assert "ZZ" in violations(error)["listing.ship_to[1]"]


def test_wrong_attribute_type_is_invalid(served: Served) -> None:
    """A canonical attribute of the wrong type is named by its path."""
    error = call_error(served, with_changes("s-001", attributes={"height_cm": "tall"}))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "expected a number" in violations(error)["listing.attributes.height_cm"]


def test_missing_listing_is_invalid(served: Served) -> None:
    """A request without a listing is INVALID_ARGUMENT on the field `listing`."""
    error = call_error(served, None)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(violations(error)) == {"listing"}


def test_bad_as_of_is_invalid(served: Served) -> None:
    """as_of that is not a date is INVALID_ARGUMENT on the field `as_of`."""
    error = call_error(served, with_changes("s-002"), as_of="20/11/2025")
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(violations(error)) == {"as_of"}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"description": "x" * 301}, "listing.description"),
        ({"attributes": {f"a{i}": i for i in range(5)}}, "listing.attributes"),
        ({"ship_to": ["FR", "BE", "DE", "IT"]}, "listing.ship_to"),
        ({"attributes": {"contains": ["a", "b", "c"]}}, "listing.attributes.contains"),
    ],
    ids=["text", "attributes", "ship_to", "list items"],
)
def test_oversized_listing_is_resource_exhausted(served: Served, changes: dict[str, Any], field: str) -> None:
    """A listing over a configured limit is RESOURCE_EXHAUSTED, naming the field."""
    error = call_error(served, with_changes("s-002", **changes))
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert field in violations(error)


def test_listing_over_its_encoded_size_is_resource_exhausted(served: Served) -> None:
    """A listing whose encoding exceeds max_listing_bytes (here, through an attribute that no
    other limit bounds) is RESOURCE_EXHAUSTED."""
    error = call_error(served, with_changes("s-002", attributes={"seller_notes": "n" * 3000}))
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "the limit is 2048" in violations(error)["listing"]


def test_message_over_the_size_limit_is_resource_exhausted(served: Served) -> None:
    """A message larger than max_message_bytes is refused by gRPC with RESOURCE_EXHAUSTED."""
    error = call_error(served, with_changes("s-002", description="z" * 70_000))
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_unavailable_without_a_bundle(tmp_path: Path) -> None:
    """With no valid pack loaded, Evaluate and GetBundle are UNAVAILABLE."""
    broken = tmp_path / "pack"
    broken.mkdir()
    (broken / "p.yaml").write_text("id: broken\n", encoding="utf-8")
    with serving(broken) as served:
        assert call_error(served, with_changes("s-002")).code() == grpc.StatusCode.UNAVAILABLE
        with pytest.raises(grpc.RpcError) as raised:
            served.stub.GetBundle(policy_service_pb2.GetBundleRequest(), timeout=PATIENCE)
        assert isinstance(raised.value, grpc.Call)
        assert raised.value.code() == grpc.StatusCode.UNAVAILABLE


class FailingSink(MemorySink):
    """A verdict log that cannot write."""

    def record(self, verdicts: Sequence[Verdict], caller: Caller) -> list[Receipt]:
        raise OSError("disk full")


def test_a_verdict_the_sink_cannot_record_is_not_returned() -> None:
    """When the sink fails, the call is UNAVAILABLE and no verdict goes out."""
    with serving(sink=FailingSink()) as served:
        assert call_error(served, with_changes("s-003")).code() == grpc.StatusCode.UNAVAILABLE
        stream = served.stub.EvaluateStream(
            iter([policy_service_pb2.EvaluateStreamRequest(listings=[with_changes("s-003")])]),
            timeout=PATIENCE,
        )
        with pytest.raises(grpc.RpcError) as raised:
            list(stream)
        assert isinstance(raised.value, grpc.Call)
        assert raised.value.code() == grpc.StatusCode.UNAVAILABLE


def test_errors_carry_the_request_id(served: Served) -> None:
    """A failed call's trailing metadata still carries the request id."""
    request = policy_service_pb2.EvaluateRequest(listing=proto_listing({"id": "x"}))
    with pytest.raises(grpc.RpcError) as raised:
        served.stub.Evaluate(request, timeout=PATIENCE, metadata=(("x-request-id", "err-7"),))
    assert isinstance(raised.value, grpc.Call)
    assert ("x-request-id", "err-7") in tuple(raised.value.trailing_metadata())


# --- streams -----------------------------------------------------------------------------------


def stream_error(served: Served, *messages: policy_service_pb2.EvaluateStreamRequest) -> grpc.Call:
    responses = served.stub.EvaluateStream(iter(messages), timeout=PATIENCE)
    with pytest.raises(grpc.RpcError) as raised:
        list(responses)
    assert isinstance(raised.value, grpc.Call)
    return raised.value


def test_stream_message_over_the_batch_limit_is_resource_exhausted(served: Served) -> None:
    """A message with more listings than max_batch ends the stream with RESOURCE_EXHAUSTED."""
    listing = with_changes("s-002")
    error = stream_error(served, policy_service_pb2.EvaluateStreamRequest(listings=[listing] * 21))
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "the limit is 20" in (error.details() or "")


def test_stream_bad_as_of_is_invalid(served: Served) -> None:
    """A stream message with a bad as_of ends the stream with INVALID_ARGUMENT."""
    error = stream_error(served, policy_service_pb2.EvaluateStreamRequest(as_of="tomorrow"))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(violations(error)) == {"as_of"}


def test_oversized_listing_on_a_stream_gets_a_too_large_error(served: Served) -> None:
    """On a stream, an oversized listing gets an error result marked too_large; the others are judged."""
    big = with_changes("s-002", id="big", description="q" * 301)
    message = policy_service_pb2.EvaluateStreamRequest(listings=[with_changes("s-001"), big])
    (response,) = served.stub.EvaluateStream(iter([message]), timeout=PATIENCE)
    assert response.results[0].verdict.listing_id == "s-001"
    assert response.results[1].listing_id == "big"
    assert response.results[1].error.too_large
    assert [v.field for v in response.results[1].error.violations] == ["description"]


class GateSink(MemorySink):
    """A verdict log that holds its first write until released."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.release = threading.Event()

    def record(self, verdicts: Sequence[Verdict], caller: Caller) -> list[Receipt]:
        self.entered.set()
        self.release.wait(PATIENCE)
        return super().record(verdicts, caller)


def test_no_work_for_a_caller_whose_deadline_passed() -> None:
    """Once a stream's deadline passes, the server records none of its later messages."""
    sink = GateSink()
    with serving(sink=sink) as served:
        messages = [
            policy_service_pb2.EvaluateStreamRequest(listings=[proto_listing(item)]) for item in samples()
        ]
        responses = served.stub.EvaluateStream(iter(messages), timeout=1.0)
        assert sink.entered.wait(PATIENCE)
        with pytest.raises(grpc.RpcError) as raised:
            list(responses)
        assert isinstance(raised.value, grpc.Call)
        assert raised.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        sink.release.set()
        wait_until(lambda: bool(served.log.events("stream")), "the stream's end in the log")
        # the client's deadline timer may fire (and cancel) a moment before the server's
        assert served.log.events("stream")[0]["code"] in ("DEADLINE_EXCEEDED", "CANCELLED")
    # stopping the server waited for every handler to return
    assert [item.request["id"] for item in sink.records] == [samples()[0]["id"]]


def test_streams_beyond_the_limit_are_refused_and_unary_calls_go_on() -> None:
    """With max_streams open, one more stream is RESOURCE_EXHAUSTED; Evaluate still answers;
    a slot frees when a stream ends."""
    with serving(threads=4, max_streams=2) as served:
        outboxes: list[queue.Queue[policy_service_pb2.EvaluateStreamRequest | None]] = [
            queue.Queue(),
            queue.Queue(),
        ]
        message = policy_service_pb2.EvaluateStreamRequest(listings=[with_changes("s-002")])
        open_streams = [served.stub.EvaluateStream(drain(outbox), timeout=PATIENCE) for outbox in outboxes]
        for outbox, responses in zip(outboxes, open_streams, strict=True):
            outbox.put(message)
            next(responses)  # the stream holds its slot
        refused = stream_error(served, message)
        assert refused.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert served.stub.Evaluate(
            policy_service_pb2.EvaluateRequest(listing=with_changes("s-002")), timeout=PATIENCE
        ).verdict.listing_id
        outboxes[0].put(None)
        assert list(open_streams[0]) == []
        wait_until(lambda: len(served.log.events("stream")) == 2, "the first stream's end")
        (response,) = served.stub.EvaluateStream(iter([message]), timeout=PATIENCE)
        assert response.results[0].verdict.listing_id == "s-002"
        outboxes[1].put(None)


def drain(outbox: queue.Queue[policy_service_pb2.EvaluateStreamRequest | None]) -> Iterator[Any]:
    """The messages put in `outbox`, until None."""
    while (message := outbox.get()) is not None:
        yield message
