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
from tamis.service.server import logs
from tamis.service.server.app import TamisServer
from tamis.service.server.config import ServeConfig
from tamis.service.server.sink import MemorySink
from tamis.service.verdictlog import Receipt
from tamis.service.verdictlog.records import Caller
from tamis.v1 import listing_pb2, policy_service_pb2
from tamis.v1.policy_service_pb2_grpc import PolicyServiceStub
from tests.conftest import POLICIES, samples
from tests.test_server_harness import PATIENCE, LogCapture, Served, proto_listing, sample, serving, wait_until

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


@pytest.mark.parametrize("as_of", ["20/11/2025", "20251120", "2025-W47-4", "2025-02-30"])
def test_bad_as_of_is_invalid(served: Served, as_of: str) -> None:
    """as_of that is not a YYYY-MM-DD date (Python alone reads `20251120` and week dates) is
    INVALID_ARGUMENT on the field `as_of`."""
    error = call_error(served, with_changes("s-002"), as_of=as_of)
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


def test_stop_abandons_a_handler_that_outlives_the_grace_period() -> None:
    """A handler still running after the grace period (and its margin) does not hold the stop:
    stop says so, and logs it; the caller gets no verdict."""
    sink = GateSink()
    log = LogCapture()
    logs.configure("json", "info", stream=log)
    config = ServeConfig(host="127.0.0.1", port=0, policies=POLICIES, reload_interval=0, log="off")
    server = TamisServer(config, sink)
    server.start()
    outcome: queue.Queue[grpc.StatusCode] = queue.Queue()

    def call() -> None:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            try:
                PolicyServiceStub(channel).Evaluate(
                    policy_service_pb2.EvaluateRequest(listing=proto_listing(sample("s-003"))),
                    timeout=PATIENCE,
                )
            except grpc.RpcError as error:
                assert isinstance(error, grpc.Call)
                outcome.put(error.code())

    caller = threading.Thread(target=call)
    caller.start()
    assert sink.entered.wait(PATIENCE)
    try:
        assert server.stop(grace=0.1) is False
        assert not sink.release.is_set()  # the handler was still held when stop returned
    finally:
        sink.release.set()
        caller.join(PATIENCE)
    # the server cancels the call after the grace period, or closes the connection first
    assert outcome.get_nowait() in (grpc.StatusCode.CANCELLED, grpc.StatusCode.UNAVAILABLE)
    assert [
        e["handlers"] for e in log.events("handlers still running after the grace period; abandoned")
    ] == [1]


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


# --- requests protobuf cannot decode ---------------------------------------------------------


def _varint(number: int) -> bytes:
    out = bytearray()
    while number > 0x7F:
        out.append(number & 0x7F | 0x80)
        number >>= 7
    return bytes(out) + bytes([number])


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field, written by hand: the client's library would refuse it."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def with_bad_utf8(listing_id: str) -> bytes:
    """A listing whose title (field 2) is not UTF-8."""
    return with_changes("s-003", id=listing_id).SerializeToString() + _field(2, b"secret\xff\xfe")


def with_deep_attributes(listing_id: str, depth: int) -> bytes:
    """A listing whose attributes Struct nests `depth` objects deep (Value.struct_value = 5)."""
    value = b"\x11" + bytes(8)  # number_value 0.0
    for _ in range(depth):
        value = _field(5, _field(1, _field(1, b"a") + _field(2, value)))
    return with_changes("s-003", id=listing_id).SerializeToString() + _field(
        8, _field(1, _field(1, b"a") + _field(2, value))
    )


def stream_message(*listings: bytes) -> bytes:
    return b"".join(_field(1, listing) for listing in listings)


def raw_stream(channel: grpc.Channel) -> Any:
    return channel.stream_stream(
        "/tamis.v1.PolicyService/EvaluateStream",
        request_serializer=bytes,
        response_deserializer=policy_service_pb2.EvaluateStreamResponse.FromString,
    )


def test_undecodable_listing_is_invalid_and_not_echoed(served: Served) -> None:
    """Evaluate with invalid UTF-8 in a string: INVALID_ARGUMENT with the reason, not the text."""
    evaluate = served.channel.unary_unary(
        "/tamis.v1.PolicyService/Evaluate",
        request_serializer=bytes,
        response_deserializer=policy_service_pb2.EvaluateResponse.FromString,
    )
    with pytest.raises(grpc.RpcError) as raised:
        evaluate(_field(1, with_bad_utf8("bad-1")), timeout=PATIENCE)
    error = raised.value
    assert isinstance(error, grpc.Call)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    details = error.details() or ""
    assert "could not be decoded: a string field holds invalid UTF-8" in details
    assert "secret" not in details and "bad-1" not in details


def test_undecodable_stream_message_gets_one_error_result_and_the_stream_goes_on(served: Served) -> None:
    """Bad UTF-8 or attributes nested past protobuf's limit: that message gets one error result
    naming it, with no listing id; earlier and later messages get their verdicts; one request
    event per message and one stream event."""
    messages = [
        stream_message(with_changes("s-001").SerializeToString()),
        stream_message(with_changes("s-002").SerializeToString(), with_bad_utf8("bad-1")),
        stream_message(with_deep_attributes("deep-33", 33)),
        stream_message(with_deep_attributes("deep-20", 20)),
    ]
    responses = list(
        raw_stream(served.channel)(
            iter(messages), timeout=PATIENCE, metadata=(("x-request-id", "undecodable"),)
        )
    )
    assert [[r.listing_id for r in response.results] for response in responses] == [
        ["s-001"],
        [""],
        [""],
        ["deep-20"],
    ]
    assert responses[3].results[0].HasField("verdict")
    for position, reason in ((1, "a string field holds invalid UTF-8"), (2, "nested deeper than protobuf")):
        error = responses[position].results[0].error
        assert error.message.startswith(f"message {position} could not be decoded: ")
        assert reason in error.message
        assert "secret" not in error.message
        assert [v.field for v in error.violations] == ["listings"]
    events = [e for e in served.log.events() if e.get("request_id") == "undecodable"]
    assert [(e["event"], e.get("message"), e["code"]) for e in events] == [
        ("request", 0, "OK"),
        ("request", 1, "INVALID_ARGUMENT"),
        ("request", 2, "INVALID_ARGUMENT"),
        ("request", 3, "OK"),
        ("stream", None, "OK"),
    ]
    assert events[-1]["messages"] == 4
