"""tamis.v1.PolicyService: Evaluate, EvaluateStream and GetBundle over the live evaluator.

Each call converts protobuf to the contract's JSON object by hand, judges its listings in one
engine call, has the verdict sink record the verdicts, and only then answers; it logs one line
per request (a stream, one line per message and one at its end). Errors end the call with a
status code and, for listings, google.rpc.BadRequest details (the proto lists the codes).
"""

from __future__ import annotations

import math
import secrets
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import date
from typing import Any, NoReturn

import grpc

from tamis.engine import (
    DeadlineExceeded,
    FieldViolation,
    ListingError,
    StageTimes,
    Verdict,
    clip,
    escape,
    parse_day,
    quote,
    today,
)
from tamis.service.server import convert, metrics
from tamis.service.server.access import caller_identity, limit_key
from tamis.service.server.config import ServeConfig
from tamis.service.server.decoding import Undecodable
from tamis.service.server.live import LiveEvaluator, NoBundleLoaded
from tamis.service.server.logs import logger
from tamis.service.server.sink import VerdictSink
from tamis.service.server.status import RpcError, abort, bad_request, listing_rejected
from tamis.service.server.streams import StreamGuard, TooManyStreams
from tamis.service.verdictlog.records import Caller, Receipt
from tamis.v1 import listing_pb2, policy_service_pb2, policy_service_pb2_grpc

#: Metadata a client may send: its own request id (logged, and echoed in trailing metadata),
#: and who it says it is (recorded beside the authenticated caller as a claim, never as proof).
REQUEST_ID_KEY = "x-request-id"
CALLER_KEY = "tamis-caller"
_MAX_REQUEST_ID = 64
#: Characters of a listing id written to a log line (ids are the seller's text).
_LOGGED_ID = 100
#: Characters of a title written to a log line when the operator asks for listing text.
_LOGGED_TEXT = 200
MAX_CLAIMED_CALLER = 128

Outcome = Verdict | ListingError


class _Call:
    """One call's identity and clock."""

    __slots__ = ("caller", "context", "ended", "method", "request_id", "started")

    def __init__(self, context: grpc.ServicerContext, method: str) -> None:
        self.started = time.perf_counter()
        self.context = context
        self.method = method
        self.ended = False
        request_id = claimed = ""
        for key, value in context.invocation_metadata():
            if key == REQUEST_ID_KEY and isinstance(value, str):
                request_id = escape(value[:_MAX_REQUEST_ID])
            elif key == CALLER_KEY and isinstance(value, str):
                claimed = value
        self.request_id = request_id or secrets.token_hex(8)
        self.caller = Caller(caller_identity(context), claimed)
        context.set_trailing_metadata(((REQUEST_ID_KEY, self.request_id),))

    def check_claim(self) -> None:
        """Refuse a `tamis-caller` that could not be stored and shown as it was sent."""
        claimed = self.caller.claimed
        if len(claimed) > MAX_CLAIMED_CALLER or not claimed.isprintable():
            raise RpcError(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"{CALLER_KEY} metadata must be at most {MAX_CLAIMED_CALLER} printable characters "
                f"(got {len(claimed)} characters)",
            )

    def milliseconds(self, since: float | None = None) -> float:
        return round((time.perf_counter() - (since or self.started)) * 1000, 3)


class PolicyService(policy_service_pb2_grpc.PolicyServiceServicer):
    """The RPCs; thread-safe (the engine serialises its own calls)."""

    def __init__(
        self,
        live: LiveEvaluator,
        sink: VerdictSink,
        config: ServeConfig,
        draining: threading.Event,
        streams: StreamGuard,
    ) -> None:
        self.live = live
        self.sink = sink
        self.config = config
        self.draining = draining
        self.streams = streams
        self._stream_slots = threading.BoundedSemaphore(config.max_streams)
        self._log = logger()

    def Evaluate(
        self, request: policy_service_pb2.EvaluateRequest | Undecodable, context: grpc.ServicerContext
    ) -> policy_service_pb2.EvaluateResponse:
        call = _Call(context, "Evaluate")
        if isinstance(request, Undecodable):
            self._end(call, request.refusal("the request"), listing_ids=[])
        try:
            call.check_claim()
            return self._evaluate(call, request)
        except Exception as error:
            self._end(call, error, listing_ids=[clip(request.listing.id, _LOGGED_ID)])

    def EvaluateStream(
        self,
        request_iterator: Iterator[policy_service_pb2.EvaluateStreamRequest | Undecodable],
        context: grpc.ServicerContext,
    ) -> Iterator[policy_service_pb2.EvaluateStreamResponse]:
        call = _Call(context, "EvaluateStream")
        try:
            call.check_claim()
            stream = self.streams.open(limit_key(context), context)
        except TooManyStreams as error:
            self._end(call, RpcError(grpc.StatusCode.RESOURCE_EXHAUSTED, str(error)), event="stream")
        except RpcError as error:
            self._end(call, error, event="stream")
        if not self._stream_slots.acquire(blocking=False):
            self._end(
                call,
                RpcError(
                    grpc.StatusCode.RESOURCE_EXHAUSTED,
                    f"{self.config.max_streams} streams are open already, the server's limit; retry later",
                ),
                event="stream",
            )
        # Released when the call ends, however it ends (a generator left suspended by a caller
        # that went away would not run a `finally` until it is collected).
        if not context.add_callback(self._stream_slots.release):
            self._stream_slots.release()
        metrics.stream_opened(context)
        progress = {"messages": 0, "listings": 0}

        # gRPC stops pulling this generator when the caller goes away (deadline, cancel), so
        # the end of such a stream is logged from the call's termination callback.
        def on_termination() -> None:
            if not call.ended:
                self._log_failure(call, _gone(context), "stream", **progress)

        context.add_callback(on_termination)
        try:
            for message in request_iterator:
                stream.touch()
                if self.draining.is_set():
                    raise RpcError(
                        grpc.StatusCode.UNAVAILABLE,
                        f"the server is shutting down after answering {progress['messages']} message(s); "
                        "send the others again",
                    )
                if isinstance(message, Undecodable):
                    yield self._undecodable_batch(call, message, progress["messages"])
                else:
                    yield self._evaluate_batch(call, message, progress["messages"])
                    progress["listings"] += len(message.listings)
                progress["messages"] += 1
        except Exception as error:
            self._end(call, error, event="stream", **progress)
        call.ended = True
        self._log.info(
            "stream",
            request_id=call.request_id,
            method=call.method,
            **progress,
            latency_ms=call.milliseconds(),
            code="OK",
        )

    def GetBundle(
        self, request: policy_service_pb2.GetBundleRequest | Undecodable, context: grpc.ServicerContext
    ) -> policy_service_pb2.GetBundleResponse:
        call = _Call(context, "GetBundle")
        try:
            if isinstance(request, Undecodable):
                raise request.refusal("the request")
            day = _as_of(request.as_of)
            current = self.live.current()
            if current is None:
                raise _unavailable()
            evaluator, source = current
            response = policy_service_pb2.GetBundleResponse(
                bundle=convert.bundle_to_proto(evaluator.bundle, source, day)
            )
        except Exception as error:
            self._end(call, error)
        self._log.info(
            "request",
            request_id=call.request_id,
            method=call.method,
            bundle=response.bundle.digest,
            latency_ms=call.milliseconds(),
            code="OK",
        )
        return response

    # --- the steps --------------------------------------------------------------------------

    def _evaluate(
        self, call: _Call, request: policy_service_pb2.EvaluateRequest
    ) -> policy_service_pb2.EvaluateResponse:
        day = _as_of(request.as_of)
        if not request.HasField("listing"):
            raise bad_request(
                grpc.StatusCode.INVALID_ARGUMENT,
                "listing is required",
                [FieldViolation("listing", "is required")],
            )
        outcomes, requests = self._judge(call, [request.listing], day)
        verdict = outcomes[0]
        if isinstance(verdict, ListingError):
            raise listing_rejected(verdict, "listing.")
        receipt = self._record(call, [verdict])[0]
        response = policy_service_pb2.EvaluateResponse()
        convert.fill_logged_verdict(response.verdict, verdict, receipt)
        self._log_outcomes(call, call.started, outcomes, requests)
        return response

    def _evaluate_batch(
        self, call: _Call, message: policy_service_pb2.EvaluateStreamRequest, position: int
    ) -> policy_service_pb2.EvaluateStreamResponse:
        started = time.perf_counter()
        if not call.context.is_active() or _deadline(call.context) < started:
            raise _gone(call.context)
        listings = message.listings
        if len(listings) > self.config.max_batch:
            raise RpcError(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"message {position} holds {len(listings)} listings; the limit is {self.config.max_batch}",
            )
        day = _as_of(message.as_of)
        outcomes, requests = self._judge(call, listings, day)
        receipts = iter(self._record(call, [outcome for outcome in outcomes if isinstance(outcome, Verdict)]))
        response = policy_service_pb2.EvaluateStreamResponse()
        results = response.results
        for listing, outcome in zip(listings, outcomes, strict=True):
            result = results.add()
            result.listing_id = listing.id
            if isinstance(outcome, Verdict):
                convert.fill_logged_verdict(result.verdict, outcome, next(receipts))
            else:
                convert.fill_listing_error(result.error, outcome)
        _fit(response, self.config.max_message_bytes)
        self._log_outcomes(call, started, outcomes, requests, message=position)
        metrics.stream_message(started)
        return response

    def _undecodable_batch(
        self, call: _Call, message: Undecodable, position: int
    ) -> policy_service_pb2.EvaluateStreamResponse:
        """One error result, with no listing id, for a message whose listings cannot be read; the
        stream goes on (the message's listings can be neither counted nor named)."""
        started = time.perf_counter()
        if not call.context.is_active():
            raise _gone(call.context)
        error = message.refusal(f"message {position}")
        metrics.refused(ListingError([FieldViolation("listings", message.reason)]))
        response = policy_service_pb2.EvaluateStreamResponse()
        result = response.results.add().error
        result.message = error.message
        result.violations.add(field="listings", description=message.reason)
        self._log.info(
            "request",
            request_id=call.request_id,
            method=call.method,
            caller=call.caller.identity,
            message=position,
            listing_ids=[],
            decisions=["error"],
            latency_ms=call.milliseconds(started),
            code=error.code.name,
            error=error.message,
        )
        metrics.stream_message(started)
        return response

    def _judge(
        self, call: _Call, listings: Sequence[listing_pb2.Listing], day: date
    ) -> tuple[list[Outcome], list[dict[str, Any]]]:
        """Judge listings in one engine call; an oversized listing gets its error without it.
        The engine stops between listings once the caller's deadline has passed."""
        limit = self.config.max_listing_bytes
        requests = [convert.listing_from_proto(listing) for listing in listings]
        oversized = {i: size for i, listing in enumerate(listings) if (size := listing.ByteSize()) > limit}
        kept = [r for i, r in enumerate(requests) if i not in oversized] if oversized else requests
        times = StageTimes()
        deadline = _deadline(call.context)
        try:
            with self.live.lease() as evaluator:
                judged = evaluator.evaluate_many(kept, day, times, deadline=deadline)
        except NoBundleLoaded as error:
            raise _unavailable() from error
        except DeadlineExceeded as error:
            raise RpcError(
                grpc.StatusCode.DEADLINE_EXCEEDED, "the deadline passed before the verdicts were ready"
            ) from error
        metrics.judged(judged, times)
        if not oversized:
            return judged, requests
        remaining = iter(judged)
        outcomes: list[Outcome] = []
        for position in range(len(requests)):
            if position in oversized:
                description = f"is {oversized[position]} bytes encoded; the limit is {limit}"
                refusal = ListingError([FieldViolation("", description)], too_large=True)
                metrics.refused(refusal)
                outcomes.append(refusal)
            else:
                outcomes.append(next(remaining))
        return outcomes, requests

    def _record(self, call: _Call, verdicts: Sequence[Verdict]) -> list[Receipt]:
        """Have the sink record the verdicts, unless the caller can no longer receive them."""
        if not call.context.is_active():
            raise _gone(call.context)
        if not verdicts:
            return []
        try:
            receipts = self.sink.record(verdicts, call.caller)
        except Exception as error:
            self._log.exception("verdict sink failed", request_id=call.request_id, verdicts=len(verdicts))
            raise RpcError(
                grpc.StatusCode.UNAVAILABLE,
                "the verdict log could not record the verdicts; nothing was acknowledged",
            ) from error
        if len(receipts) != len(verdicts):
            raise RpcError(grpc.StatusCode.INTERNAL, "the verdict sink returned the wrong number of receipts")
        return receipts

    # --- logs and errors --------------------------------------------------------------------

    def _log_outcomes(
        self,
        call: _Call,
        started: float,
        outcomes: Sequence[Outcome],
        requests: Sequence[Mapping[str, Any]],
        **extra: object,
    ) -> None:
        verdicts = [outcome for outcome in outcomes if isinstance(outcome, Verdict)]
        fields: dict[str, object] = {
            "request_id": call.request_id,
            "method": call.method,
            "caller": call.caller.identity,
            **extra,
            "listing_ids": [_logged_id(request.get("id")) for request in requests],
            "decisions": [
                outcome.decision.value if isinstance(outcome, Verdict) else "error" for outcome in outcomes
            ],
            "matched": {
                clip(v.listing_id, _LOGGED_ID): [m.policy for m in v.matches] for v in verdicts if v.matches
            },
            "bundle": verdicts[0].bundle_digest if verdicts else None,
            "latency_ms": call.milliseconds(started),
            "code": "OK",
        }
        if self.config.log_listing_text:
            fields["titles"] = [_logged_text(request.get("title")) for request in requests]
        self._log.info("request", **fields)

    def _end(self, call: _Call, error: Exception, event: str = "request", **fields: object) -> NoReturn:
        """Log why the call failed (as `event`) and end it with the matching status."""
        if not isinstance(error, RpcError):
            self._log.exception("request crashed", request_id=call.request_id, method=call.method)
            error = RpcError(
                grpc.StatusCode.INTERNAL, f"internal error ({type(error).__name__}); see the server log"
            )
        self._log_failure(call, error, event, **fields)
        abort(call.context, error, ((REQUEST_ID_KEY, call.request_id),))

    def _log_failure(self, call: _Call, error: RpcError, event: str, **fields: object) -> None:
        call.ended = True
        self._log.info(
            event,
            request_id=call.request_id,
            method=call.method,
            **fields,
            latency_ms=call.milliseconds(),
            code=error.code.name,
            error=error.message,
        )


def _fit(response: policy_service_pb2.EvaluateStreamResponse, limit: int) -> None:
    """Keep a stream response within `limit` bytes: a message over it would fail whole and
    lose every neighbour's verdict, so the largest verdicts, largest first, are replaced by an
    error naming their verdict id (they are in the verdict log) until the rest fits."""
    size = response.ByteSize()
    if size <= limit:
        return
    verdicts = [result for result in response.results if result.WhichOneof("outcome") == "verdict"]
    for result in sorted(verdicts, key=lambda result: result.ByteSize(), reverse=True):
        before = result.ByteSize()
        description = (
            f"the verdict {result.verdict.verdict_id} is {before} bytes encoded, too large to send "
            f"with its neighbours within {limit} bytes; it is in the verdict log"
        )
        convert.fill_listing_error(
            result.error, ListingError([FieldViolation("", description)], too_large=True)
        )
        size += result.ByteSize() - before
        if size <= limit:
            return


def _as_of(text: str) -> date:
    if not text:
        return today()
    try:
        return parse_day(text)
    except ValueError as error:
        raise bad_request(
            grpc.StatusCode.INVALID_ARGUMENT,
            f"as_of: expected a date YYYY-MM-DD, got {quote(text)}",
            [FieldViolation("as_of", f"expected a date YYYY-MM-DD, got {quote(text)}")],
        ) from error


def _deadline(context: grpc.ServicerContext) -> float:
    """The caller's deadline as a time.perf_counter value (infinity without one)."""
    remaining = context.time_remaining()
    return math.inf if remaining is None else time.perf_counter() + remaining


def _logged_id(listing_id: object) -> object:
    return clip(listing_id, _LOGGED_ID) if isinstance(listing_id, str) else listing_id


def _logged_text(text: object) -> object:
    return clip(text, _LOGGED_TEXT) if isinstance(text, str) else text


def _unavailable() -> RpcError:
    return RpcError(grpc.StatusCode.UNAVAILABLE, "no policy bundle is loaded yet; retry later")


def _gone(context: grpc.ServicerContext) -> RpcError:
    if context.time_remaining() is not None and context.time_remaining() <= 0:
        return RpcError(
            grpc.StatusCode.DEADLINE_EXCEEDED, "the deadline passed before the verdicts were ready"
        )
    return RpcError(grpc.StatusCode.CANCELLED, "the caller cancelled the call")
