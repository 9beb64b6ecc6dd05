"""gRPC errors with the details clients need: google.rpc.Status with BadRequest violations.

Handlers raise RpcError; the call's edge turns it into the call's status with `abort`, keeping
the request id in the trailing metadata next to the rich status.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NoReturn

import grpc
from google.rpc import error_details_pb2, status_pb2

from tamis.engine import FieldViolation, ListingError

#: Where gRPC carries a serialised google.rpc.Status (what grpc_status.rpc_status reads).
DETAILS_KEY = "grpc-status-details-bin"

Metadata = tuple[tuple[str, str | bytes], ...]


class RpcError(Exception):
    """Ends a call with `code`, `message` and optional google.rpc.BadRequest violations."""

    def __init__(
        self,
        code: grpc.StatusCode,
        message: str,
        violations: Sequence[error_details_pb2.BadRequest.FieldViolation] = (),
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.violations = violations


def bad_request(
    code: grpc.StatusCode, message: str, violations: Iterable[FieldViolation], prefix: str = ""
) -> RpcError:
    """An error whose status carries one BadRequest field violation per problem.

    `prefix` turns the listing's field paths into paths in the request ("listing.ship_to[1]").
    """
    return RpcError(
        code,
        message,
        [
            error_details_pb2.BadRequest.FieldViolation(
                field=f"{prefix}{violation.field}" if violation.field else prefix.rstrip("."),
                description=violation.description,
            )
            for violation in violations
        ],
    )


def listing_rejected(error: ListingError, prefix: str) -> RpcError:
    """INVALID_ARGUMENT for a listing that breaks the contract, RESOURCE_EXHAUSTED if too large."""
    if error.too_large:
        return bad_request(
            grpc.StatusCode.RESOURCE_EXHAUSTED, f"listing too large: {error}", error.violations, prefix
        )
    return bad_request(
        grpc.StatusCode.INVALID_ARGUMENT, f"invalid listing: {error}", error.violations, prefix
    )


@dataclass(frozen=True)
class _Status(grpc.Status):
    code: grpc.StatusCode
    details: str
    trailing_metadata: Metadata


def abort(context: grpc.ServicerContext, error: RpcError, metadata: Metadata = ()) -> NoReturn:
    """End the call with `error`, adding `metadata` to the trailing metadata (raises)."""
    if error.violations:
        status = status_pb2.Status(code=error.code.value[0], message=error.message)
        status.details.add().Pack(error_details_pb2.BadRequest(field_violations=error.violations))
        metadata = (*metadata, (DETAILS_KEY, status.SerializeToString()))
    context.abort_with_status(_Status(error.code, error.message, metadata))
