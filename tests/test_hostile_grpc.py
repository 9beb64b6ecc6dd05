"""Batch laundering through the real gRPC server: one hostile listing on a stream message must
not turn its neighbours' verdicts (or what the log records of them) into `allow`."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import grpc
import pytest

from tamis.engine import Evaluator
from tamis.v1 import policy_service_pb2, verdict_pb2
from tests.test_grpc_evaluate import BRASS_KNUCKLES, stream_request
from tests.test_hostile_engine import crowded
from tests.test_server_harness import PATIENCE, Served, sample, serving


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    with serving() as running:
        yield running


def laser(listing_id: str, title: str = "Pointeur laser vert", **attributes: Any) -> dict[str, Any]:
    return {"id": listing_id, "title": title, "ship_to": ["FR"], "attributes": attributes}


def run_stream(served: Served, hostile: dict[str, Any]) -> list[tuple[str, str]]:
    """[block, hostile, block, block] on one message: (listing id, outcome) per result."""
    block = sample("s-003")
    listings = [{**block, "id": "n-1"}, hostile, {**block, "id": "n-2"}, {**block, "id": "n-3"}]
    (response,) = served.stub.EvaluateStream(iter([stream_request(*listings)]), timeout=PATIENCE)
    return [
        (
            result.listing_id,
            "error"
            if result.WhichOneof("outcome") == "error"
            else verdict_pb2.Decision.Name(result.verdict.decision).removeprefix("DECISION_").lower(),
        )
        for result in response.results
    ]


@pytest.mark.parametrize(
    ("hostile", "expected"),
    [
        (laser("h-struct", laser_power_mw=1e16), "error"),  # a Struct double beyond any measure
        (laser("h-text", "Pointeur laser vert 0,0000001 mW"), "flag"),  # read from text as 1e-07
        (laser("h-tiny", laser_power_mw=1e-7), "flag"),
    ],
    ids=["struct-1e16", "text-1e-07", "struct-1e-07"],
)
def test_a_hostile_number_launders_no_neighbour(
    served: Served, hostile: dict[str, Any], expected: str
) -> None:
    before = len(served.sink.records)
    results = run_stream(served, hostile)
    assert results == [("n-1", "block"), (hostile["id"], expected), ("n-2", "block"), ("n-3", "block")]
    recorded = {item.verdict.listing_id: item.verdict for item in served.sink.records[before:]}
    assert {name: recorded[name].decision.value for name in ("n-1", "n-2", "n-3")} == dict.fromkeys(
        ("n-1", "n-2", "n-3"), "block"
    )
    assert all(BRASS_KNUCKLES in {m.policy for m in recorded[name].matches} for name in ("n-1", "n-2", "n-3"))
    assert (hostile["id"] in recorded) == (expected != "error")
    line = served.log.events("request")[-1]
    assert line["listing_ids"] == ["n-1", hostile["id"], "n-2", "n-3"]
    assert line["decisions"] == ["block", expected, "block", "block"]


def test_an_engine_error_on_a_stream_fails_its_listing_only(served: Served, shipped: Evaluator) -> None:
    """A listing past the C core's limits gets an error; the next message is judged as ever."""
    results = run_stream(served, crowded(shipped))
    assert results == [("n-1", "block"), ("crowded", "error"), ("n-2", "block"), ("n-3", "block")]
    (response,) = served.stub.EvaluateStream(iter([stream_request(sample("s-001"))]), timeout=PATIENCE)
    assert response.results[0].verdict.decision == verdict_pb2.DECISION_BLOCK


def test_a_message_after_the_deadline_is_not_judged(served: Served) -> None:
    """The deadline is checked between a stream's messages: what comes after it is not judged,
    recorded or answered."""
    sent_first = threading.Event()

    def messages() -> Iterator[policy_service_pb2.EvaluateStreamRequest]:
        yield stream_request({**sample("s-003"), "id": "in-time"})
        sent_first.set()
        threading.Event().wait(1.5)  # past the call's deadline
        yield stream_request({**sample("s-003"), "id": "too-late"})

    answers = served.stub.EvaluateStream(messages(), timeout=1.0)
    with pytest.raises(grpc.RpcError) as caught:
        for _ in answers:
            pass
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert sent_first.is_set()
    threading.Event().wait(1.0)  # let the server read what the client sent late
    assert "too-late" not in {item.verdict.listing_id for item in served.sink.records}
