"""Request messages protobuf cannot decode, handed to the handlers rather than refused by gRPC.

gRPC answers a request its deserializer refuses with INTERNAL "Exception deserializing request!"
and no reason; on a stream it ends the whole stream, the handler never logs the message, and the
call is left half-finished in gRPC core, where the server's shutdown waits for it past its grace.
So the handlers are registered with deserializers that return an `Undecodable` instead (invalid
UTF-8 in a string, messages nested past protobuf's depth limit, corrupt wire format), and each
handler answers it as the API documents.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf.message import DecodeError

from tamis.service.server.status import RpcError

#: protobuf's reasons (upb's wording), said in the API's terms.
_REASONS = (
    ("UTF-8", "a string field holds invalid UTF-8"),
    (
        "MaxDepth",
        "messages are nested deeper than protobuf decodes (an attribute nested about 30 levels deep)",
    ),
    ("corrupt", "the wire format is corrupt"),
)
#: Characters of protobuf's own reason kept when it is none of the above.
_MAX_REASON = 120


@dataclass(frozen=True, slots=True)
class Undecodable:
    """A request message that is not valid protobuf for its type; `reason` never quotes it."""

    reason: str

    def refusal(self, what: str) -> RpcError:
        """INVALID_ARGUMENT for `what` (the request, message 3 of a stream), with the reason."""
        return RpcError(
            grpc.StatusCode.INVALID_ARGUMENT,
            f"{what} could not be decoded: {self.reason}; nothing in it was acted on",
        )


def tolerant(parse: Callable[[bytes], Any]) -> Callable[[bytes], Any]:
    """`parse`, returning an Undecodable where it raises DecodeError."""

    def deserialize(data: bytes) -> Any:
        try:
            return parse(data)
        except DecodeError as error:
            return Undecodable(_reason(str(error)))

    return deserialize


def add_tolerant_servicer(
    add_to_server: Callable[[Any, Any], None], servicer: object, server: grpc.Server
) -> None:
    """Register `servicer` as the generated `add_*_to_server` would, with tolerant deserializers."""
    registrar = _Registrar()
    add_to_server(servicer, registrar)
    handlers = {
        name: handler._replace(request_deserializer=tolerant(handler.request_deserializer))
        for name, handler in registrar.handlers.items()
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(registrar.service, handlers),))
    server.add_registered_method_handlers(registrar.service, handlers)


class _Registrar:
    """Stands in for the server to catch the method handlers the generated code builds."""

    def __init__(self) -> None:
        self.service = ""
        self.handlers: dict[str, Any] = {}

    def add_generic_rpc_handlers(self, handlers: object) -> None:
        """The generated code registers both ways; the registered handlers carry everything."""

    def add_registered_method_handlers(self, service: str, handlers: dict[str, Any]) -> None:
        self.service = service
        self.handlers = handlers


def _reason(text: str) -> str:
    for marker, reason in _REASONS:
        if marker in text:
            return reason
    detail = text.rpartition(": ")[2]
    return detail[:_MAX_REASON] or "it is not valid protobuf"
