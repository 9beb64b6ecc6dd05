"""Who is calling and what they may do: identities from client certificates, roles from `[access]`.

Under mutual TLS the caller is the name its certificate proves, never a header it can set: the
certificate's URI SAN (a SPIFFE id), else its first DNS SAN, else its subject CN. A name longer
than MAX_IDENTITY characters or with a character that is not printable is refused rather than
cut or escaped, so that every identity logged or recorded is exactly the one certified.

Roles come from the `[access]` table: `evaluate` may call PolicyService's Evaluate and
EvaluateStream, `audit` the AuditService, `admin` both and GetBundle. Health and reflection are
open to any authenticated caller. Any other method needs admin, so a new RPC is closed until a
rule names it. `AccessControl` checks every call before its handler runs: UNAUTHENTICATED
without a usable certificate, PERMISSION_DENIED without the role.
"""

from __future__ import annotations

import functools
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import grpc
from cryptography import x509
from cryptography.x509.oid import NameOID

from tamis.service.server.logs import logger
from tamis.v1 import audit_pb2, policy_service_pb2

ROLES = ("evaluate", "audit", "admin")
#: Longest identity accepted, in characters (a SPIFFE id may be 2,048 bytes; none needs more than this).
MAX_IDENTITY = 512
#: Most identities in the [access] table.
MAX_ENTRIES = 10_000

_POLICY = policy_service_pb2.DESCRIPTOR.services_by_name["PolicyService"].full_name
_AUDIT = audit_pb2.DESCRIPTOR.services_by_name["AuditService"].full_name
_OPEN = ("/grpc.health.v1.Health/", "/grpc.reflection.v1alpha.ServerReflection/")
_EVALUATE = frozenset({"evaluate", "admin"})
_ADMIN = frozenset({"admin"})
_AUDITORS = frozenset({"audit", "admin"})
_RULES = {f"/{_POLICY}/Evaluate": _EVALUATE, f"/{_POLICY}/EvaluateStream": _EVALUATE}


class UnusableCertificate(ValueError):
    """A client certificate that names no identity Tamis accepts."""


@dataclass(frozen=True)
class Access:
    """The identities granted each role."""

    evaluate: frozenset[str] = frozenset()
    audit: frozenset[str] = frozenset()
    admin: frozenset[str] = frozenset()

    @property
    def grants_any(self) -> bool:
        return bool(self.evaluate or self.audit or self.admin)

    def roles(self, identity: str) -> frozenset[str]:
        return frozenset(role for role in ROLES if identity in getattr(self, role))


#: Nobody holds a role (the default: roles are only enforced under mutual TLS).
NO_ACCESS = Access()


def parse_access(value: str | Mapping[str, Any]) -> Access:
    """The `[access]` table, or its inline form `{evaluate = ["…"], audit = ["…"]}` from a flag."""
    if isinstance(value, str):
        try:
            value = tomllib.loads(f"access = {value}")["access"]
        except tomllib.TOMLDecodeError as error:
            raise ValueError(
                f'expected an inline TOML table such as {{evaluate = ["id"]}}: {error}'
            ) from None
    if not isinstance(value, Mapping):
        raise ValueError(f"expected a table of roles, got {type(value).__name__}")
    roles: dict[str, frozenset[str]] = {}
    for role, names in value.items():
        if role not in ROLES:
            raise ValueError(f"unknown role {_shown(str(role))}; expected {', '.join(ROLES)}")
        if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
            raise ValueError(f"{role}: expected a list of identities (strings)")
        if len(names) > MAX_ENTRIES:
            raise ValueError(f"{role}: {len(names)} identities; the limit is {MAX_ENTRIES}")
        for name in names:
            problem = identity_problem(name)
            if problem:
                raise ValueError(f"{role}: {_shown(name)} {problem}")
        roles[role] = frozenset(names)
    return Access(**roles)


def identity_problem(name: str) -> str | None:
    """Why `name` cannot be an identity, or None."""
    if not name:
        return "is empty"
    if len(name) > MAX_IDENTITY:
        return f"is {len(name)} characters long; the limit is {MAX_IDENTITY}"
    if not name.isprintable() or name != name.strip():
        return "holds a character that is not printable, or spaces at an end"
    return None


@functools.lru_cache(maxsize=1024)
def certificate_identity(pem: bytes) -> str:
    """The identity a PEM client certificate proves (cached: a connection presents one per call)."""
    try:
        certificate = x509.load_pem_x509_certificate(pem)
        try:
            names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except x509.ExtensionNotFound:
            candidates: list[Any] = []
        else:
            uris = names.get_values_for_type(x509.UniformResourceIdentifier)
            candidates = uris or names.get_values_for_type(x509.DNSName)
        if not candidates:
            candidates = [a.value for a in certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    except ValueError as error:  # a malformed extension or name
        raise UnusableCertificate(f"the client certificate cannot be read ({type(error).__name__})") from None
    if not candidates or not isinstance(candidates[0], str):
        raise UnusableCertificate("the client certificate names no URI SAN, DNS SAN or common name")
    problem = identity_problem(candidates[0])
    if problem:
        raise UnusableCertificate(f"the client certificate's name {problem}")
    return candidates[0]


def authenticated_identity(context: grpc.ServicerContext) -> str | None:
    """The identity of the caller's certificate; None when it presented none (no mutual TLS)."""
    certificates = context.auth_context().get("x509_pem_cert")
    return certificate_identity(certificates[0]) if certificates else None


def caller_identity(context: grpc.ServicerContext) -> str:
    """Who is calling: the certified identity, else (development, no mutual TLS) the peer address."""
    return authenticated_identity(context) or context.peer()


def limit_key(context: grpc.ServicerContext) -> str:
    """What per-caller limits count by: the certified identity, else the peer's address without
    its port (every connection of a host counts as one caller)."""
    identity = authenticated_identity(context)
    if identity is not None:
        return identity
    peer = context.peer()
    return peer.rsplit(":", 1)[0] if peer.count(":") >= 2 else peer


def required_roles(method: str) -> frozenset[str] | None:
    """The roles that may call `method` (any one suffices); None: any authenticated caller."""
    if method.startswith(_OPEN):
        return None
    if method.startswith(f"/{_AUDIT}/"):
        return _AUDITORS
    return _RULES.get(method, _ADMIN)


class AccessControl(grpc.ServerInterceptor):
    """Admits a call only from an authenticated caller holding one of the method's roles."""

    def __init__(self, access: Access) -> None:
        self.access = access
        self._log = logger()

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler[Any, Any] | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        method: str = handler_call_details.method
        roles = required_roles(method)
        return _guarded(handler, lambda context: self._admit(context, method, roles))

    def _admit(self, context: grpc.ServicerContext, method: str, roles: frozenset[str] | None) -> None:
        try:
            identity = authenticated_identity(context)
        except UnusableCertificate as error:
            self._deny(context, method, grpc.StatusCode.UNAUTHENTICATED, str(error), None)
        if identity is None:
            message = "a client certificate is required"
            self._deny(context, method, grpc.StatusCode.UNAUTHENTICATED, message, None)
        elif roles is not None and not self.access.roles(identity) & roles:
            needed = " or ".join(sorted(roles))
            message = f"{identity} may not call {method}: it needs the {needed} role"
            self._deny(context, method, grpc.StatusCode.PERMISSION_DENIED, message, identity)

    def _deny(
        self,
        context: grpc.ServicerContext,
        method: str,
        code: grpc.StatusCode,
        message: str,
        identity: str | None,
    ) -> None:
        self._log.warning(
            "access denied", method=method, caller=identity, peer=context.peer(), code=code.name
        )
        context.abort(code, message)


def _guarded(
    handler: grpc.RpcMethodHandler[Any, Any], admit: Callable[[grpc.ServicerContext], None]
) -> grpc.RpcMethodHandler[Any, Any]:
    """`handler` with `admit(context)` run before its behaviour."""

    def guard(
        behaviour: Callable[[Any, grpc.ServicerContext], Any],
    ) -> Callable[[Any, grpc.ServicerContext], Any]:
        def guarded(request: Any, context: grpc.ServicerContext) -> Any:
            admit(context)
            return behaviour(request, context)

        return guarded

    codecs = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    if handler.unary_unary is not None:
        return grpc.unary_unary_rpc_method_handler(guard(handler.unary_unary), **codecs)
    if handler.unary_stream is not None:
        return grpc.unary_stream_rpc_method_handler(guard(handler.unary_stream), **codecs)
    if handler.stream_unary is not None:
        return grpc.stream_unary_rpc_method_handler(guard(handler.stream_unary), **codecs)
    assert handler.stream_stream is not None
    return grpc.stream_stream_rpc_method_handler(guard(handler.stream_stream), **codecs)


def _shown(text: str) -> str:
    """`text` quoted for a message, cut to 64 characters (never echo input whole)."""
    return repr(text[:64] + ("…" if len(text) > 64 else ""))
