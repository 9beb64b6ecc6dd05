"""A server interceptor that sees every call begin and end, with its final status code.

Metrics and traces both need the same two moments of every RPC, of every service: when its
handler starts, and when it ends, with the code it ended with. gRPC records the code a handler
aborts with on the call's context; a handler that raises without aborting ends UNKNOWN. A
streaming response ends when its generator does, except when the caller goes away: gRPC then
stops pulling the generator, which may stay suspended until collected, so the call's
termination callback ends it (CANCELLED, or DEADLINE_EXCEEDED), whichever comes first counts.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeAlias

import grpc

Behaviour = Callable[[Any, grpc.ServicerContext], Any]
Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"  # generic in the stubs only


class CallObserver(grpc.ServerInterceptor):
    """Subclasses say what to do as a call starts (`started` returns a token) and ends."""

    def __init__(self) -> None:
        # each method's handler and its wrapped form, made once (only registered methods get here)
        self._wrapped: dict[str, tuple[Handler, Handler]] = {}

    def started(self, service: str, method: str, context: grpc.ServicerContext) -> Any:
        raise NotImplementedError

    def ended(self, token: Any, code: grpc.StatusCode) -> None:
        raise NotImplementedError

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Handler | None],
        details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        handler = continuation(details)
        if handler is None:  # no such method: gRPC answers UNIMPLEMENTED by itself
            return None
        known = self._wrapped.get(details.method)
        if known is None or known[0] is not handler:
            known = self._wrapped[details.method] = (handler, self._wrap(handler, details.method))
        return known[1]

    def _wrap(self, handler: Handler, path: str) -> Handler:
        service, _, method = path.lstrip("/").partition("/")
        for kind, streaming in _KINDS.items():
            behaviour = getattr(handler, kind)
            if behaviour is not None:
                wrap = self._streaming if streaming else self._unary
                return handler._replace(**{kind: wrap(behaviour, service, method)})  # type: ignore[attr-defined,no-any-return]
        return handler

    def _unary(self, behaviour: Behaviour, service: str, method: str) -> Behaviour:
        def run(request: Any, context: grpc.ServicerContext) -> Any:
            token = self.started(service, method, context)
            try:
                response = behaviour(request, context)
            except BaseException:
                self.ended(token, _code(context, failed=True))
                raise
            self.ended(token, _code(context, failed=False))
            return response

        return run

    def _streaming(self, behaviour: Behaviour, service: str, method: str) -> Behaviour:
        def run(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            token = self.started(service, method, context)
            once = threading.Lock()  # held by whichever end comes first

            def end(code: grpc.StatusCode) -> None:
                if once.acquire(blocking=False):
                    self.ended(token, code)

            context.add_callback(lambda: end(_gone(context)))
            try:
                yield from behaviour(request, context)
            except BaseException:  # an abort, a crash, or the generator closed
                end(_code(context, failed=True))
                raise
            end(_code(context, failed=False))

        return run


#: The behaviours a method handler may have, and whether its responses stream.
_KINDS = {"unary_unary": False, "stream_unary": False, "unary_stream": True, "stream_stream": True}


def _gone(context: grpc.ServicerContext) -> grpc.StatusCode:
    """The code of a call that terminated before its handler finished: the caller gave up."""
    remaining = context.time_remaining()
    if remaining is not None and remaining <= 0:
        return grpc.StatusCode.DEADLINE_EXCEEDED
    return grpc.StatusCode.CANCELLED


def _code(context: grpc.ServicerContext, *, failed: bool) -> grpc.StatusCode:
    code = context.code()  # type: ignore[attr-defined]
    if isinstance(code, grpc.StatusCode):
        return code
    return grpc.StatusCode.UNKNOWN if failed else grpc.StatusCode.OK
