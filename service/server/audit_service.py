"""tamis.v1.AuditService: query, fetch, verify and replay the verdict log over gRPC.

A thin layer over service.verdictlog.AuditLog (what `tamis audit` uses too): requests become
VerdictQuery filters, log records become LoggedVerdict messages. Without a log (`--log off`)
every call ends FAILED_PRECONDITION.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC
from typing import TypeVar

import grpc

from tamis.engine import quote
from tamis.service.server import convert
from tamis.service.server.access import caller_identity, limit_key
from tamis.service.server.audit_workers import AuditBusy, AuditStopped, AuditTimeout, AuditWorkers
from tamis.service.server.decoding import Undecodable
from tamis.service.server.logs import logger
from tamis.service.server.status import RpcError, abort
from tamis.service.verdictforms import DECISIONS, fill_verdict
from tamis.service.verdictlog import (
    AuditLog,
    LogError,
    LoggedVerdict,
    LogUnavailable,
    VerdictNotFound,
    VerdictQuery,
    VerifyReport,
)
from tamis.v1 import audit_pb2, audit_pb2_grpc

T = TypeVar("T")
R = TypeVar("R")

DEFAULT_PAGE_SIZE = 50
_DECISIONS = {value: key.value for key, value in DECISIONS.items()}


class AuditService(audit_pb2_grpc.AuditServiceServicer):
    """The RPCs; thread-safe (AuditLog keeps a session per thread)."""

    def __init__(self, audit: AuditLog | None, workers: AuditWorkers | None = None) -> None:
        """`workers`: where replays and verifications run (in this process without them)."""
        self.audit = audit
        self.workers = workers
        self._log = logger()

    def QueryVerdicts(
        self, request: audit_pb2.QueryVerdictsRequest | Undecodable, context: grpc.ServicerContext
    ) -> audit_pb2.QueryVerdictsResponse:
        request = self._decoded(request, context, "QueryVerdicts")

        def run(audit: AuditLog) -> audit_pb2.QueryVerdictsResponse:
            query = VerdictQuery(
                listing_id=request.listing_id or None,
                seller_id=request.seller_id or None,
                decision=_DECISIONS.get(request.decision),
                policy=request.policy or None,
                instrument=request.instrument or None,
                article=request.article or None,
                since=request.since.ToDatetime(tzinfo=UTC) if request.HasField("since") else None,
                until=request.until.ToDatetime(tzinfo=UTC) if request.HasField("until") else None,
            )
            page = audit.query(query, request.page_size or DEFAULT_PAGE_SIZE, request.page_token or None)
            response = audit_pb2.QueryVerdictsResponse(next_page_token=page.next_cursor or "")
            for logged in page.verdicts:
                fill_logged(response.verdicts.add(), logged)
            return response

        return self._call(context, "QueryVerdicts", run, _query_fields(request))

    def GetVerdict(
        self, request: audit_pb2.GetVerdictRequest | Undecodable, context: grpc.ServicerContext
    ) -> audit_pb2.GetVerdictResponse:
        request = self._decoded(request, context, "GetVerdict")

        def run(audit: AuditLog) -> audit_pb2.GetVerdictResponse:
            logged = audit.get(request.verdict_id)
            if logged is None:
                raise VerdictNotFound(f"no verdict {quote(request.verdict_id)} in the log")
            response = audit_pb2.GetVerdictResponse()
            fill_logged(response.verdict, logged)
            return response

        return self._call(context, "GetVerdict", run, {"verdict_id": _bounded(request.verdict_id)})

    def VerifyLog(
        self, request: audit_pb2.VerifyLogRequest | Undecodable, context: grpc.ServicerContext
    ) -> audit_pb2.VerifyLogResponse:
        request = self._decoded(request, context, "VerifyLog")

        def run(audit: AuditLog) -> audit_pb2.VerifyLogResponse:
            if self.workers is None:
                return verify_to_proto(audit.verify())
            return verify_to_proto(self.workers.verify(limit_key(context), context.time_remaining()))

        return self._call(context, "VerifyLog", run, {})

    def ReplayVerdict(
        self, request: audit_pb2.ReplayVerdictRequest | Undecodable, context: grpc.ServicerContext
    ) -> audit_pb2.ReplayVerdictResponse:
        request = self._decoded(request, context, "ReplayVerdict")

        def run(audit: AuditLog) -> audit_pb2.ReplayVerdictResponse:
            if self.workers is None:
                replay = audit.replay(request.verdict_id)
            else:
                caller = limit_key(context)
                replay = self.workers.replay(caller, request.verdict_id, context.time_remaining())
            response = audit_pb2.ReplayVerdictResponse(
                identical=replay.identical,
                decision_identical=replay.decision_identical,
                grounds_identical=replay.grounds_identical,
                differences=replay.differences,
            )
            fill_logged(response.logged, replay.verdict)
            if replay.replayed is not None:
                fill_verdict(response.replayed, replay.replayed)
            return response

        return self._call(context, "ReplayVerdict", run, {"verdict_id": _bounded(request.verdict_id)})

    def _decoded(self, request: R | Undecodable, context: grpc.ServicerContext, method: str) -> R:
        """The request, or the call ended INVALID_ARGUMENT (and logged) if protobuf could not
        decode it: gRPC itself would answer INTERNAL, with no reason."""
        if isinstance(request, Undecodable):
            error = request.refusal("the request")
            who = {"caller": caller_identity(context), "method": method}
            self._log.info("audit", **who, code=error.code.name, error=error.message)
            abort(context, error)
        return request

    def _call(
        self,
        context: grpc.ServicerContext,
        method: str,
        run: Callable[[AuditLog], T],
        asked: dict[str, object],
    ) -> T:
        """Run `run` on the log, ending the call with the status its failure calls for. Every
        read is logged: who asked (`caller`), what (`asked`), and how it ended."""
        who = {"caller": caller_identity(context), "method": method, **asked}
        try:
            if self.audit is None:
                raise RpcError(
                    grpc.StatusCode.FAILED_PRECONDITION, "this server keeps no verdict log (--log off)"
                )
            try:
                answer = run(self.audit)
            except ValueError as error:
                raise RpcError(grpc.StatusCode.INVALID_ARGUMENT, str(error)) from error
            except VerdictNotFound as error:
                raise RpcError(grpc.StatusCode.NOT_FOUND, str(error)) from error
            except LogUnavailable as error:
                raise RpcError(
                    grpc.StatusCode.UNAVAILABLE, f"the verdict log is unavailable: {error}"
                ) from error
            except LogError as error:  # no log in that database yet, a schema too new for this code
                raise RpcError(grpc.StatusCode.FAILED_PRECONDITION, str(error)) from error
            except AuditBusy as error:
                raise RpcError(grpc.StatusCode.RESOURCE_EXHAUSTED, str(error)) from error
            except AuditTimeout as error:
                raise RpcError(grpc.StatusCode.DEADLINE_EXCEEDED, str(error)) from error
            except AuditStopped as error:
                raise RpcError(grpc.StatusCode.UNAVAILABLE, str(error)) from error
        except RpcError as error:
            self._log.info("audit", **who, code=error.code.name, error=error.message)
            abort(context, error)
        except Exception:
            self._log.exception("audit call crashed", **who)
            abort(context, RpcError(grpc.StatusCode.INTERNAL, "internal error; see the server log"))
        self._log.info("audit", **who, code="OK")
        return answer


def _query_fields(request: audit_pb2.QueryVerdictsRequest) -> dict[str, object]:
    """The filters of a query, as logged (bounded)."""
    fields: dict[str, object] = {
        name: _bounded(getattr(request, name))
        for name in ("listing_id", "seller_id", "policy", "instrument", "article", "page_token")
        if getattr(request, name)
    }
    if request.decision:
        fields["decision"] = _DECISIONS.get(request.decision, str(request.decision))
    for name in ("since", "until"):
        if request.HasField(name):
            fields[name] = getattr(request, name).ToJsonString()
    return fields


def _bounded(text: str, limit: int = 128) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def fill_logged(target: audit_pb2.LoggedVerdict, logged: LoggedVerdict) -> None:
    """Write a log record into a LoggedVerdict message in place."""
    record = logged.record
    convert.fill_logged_verdict(target.verdict, logged.verdict(), logged.receipt)
    target.time.FromDatetime(logged.time)
    target.caller = record.caller
    target.claimed_caller = record.claimed_caller or ""
    target.seller_id = record.seller_id or ""
    target.canonical_request = record.request
    target.request_hash = record.request_hash or ""
    target.canonical_matches = record.matches
    chain = target.chain
    chain.writer, chain.seq, chain.prev_hash, chain.hash = (
        logged.writer,
        logged.seq,
        logged.prev_hash,
        logged.hash,
    )


def verify_to_proto(report: VerifyReport) -> audit_pb2.VerifyLogResponse:
    response = audit_pb2.VerifyLogResponse(
        ok=report.ok, verdicts=report.verdicts, bundles=report.bundles, checkpoints=report.checkpoints
    )
    for head in report.heads:
        response.heads.add(writer=head.writer, seq=head.seq, hash=head.hash)
    for problem in report.problems:
        response.problems.add(**problem.to_dict())
    return response
