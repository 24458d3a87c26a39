"""Application errors and their AIP-193 form: google.rpc.Status with ErrorInfo and BadRequest."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sized
from dataclasses import dataclass, field

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2

from .refusals import FieldProblem, Refusal


@dataclass
class AppError(Exception):
    """An error a caller can act on. `reason` is UPPER_SNAKE_CASE; `domain` is `<svc>.loyalty`."""

    code: grpc.StatusCode
    reason: str
    message: str
    violations: list[tuple[str, str]] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)
    retry_after_seconds: int | None = None

    def __str__(self) -> str:
        return f"{self.reason}: {self.message}"


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")

# A response names at most this many bad fields: a request with a million bad items must not
# cost a million descriptions.
MAX_VIOLATIONS = 50


def invalid(violations: list[tuple[str, str]], reason: str = "INVALID_ARGUMENT") -> AppError:
    violations = violations[:MAX_VIOLATIONS]
    message = "; ".join(f"{f}: {d}" for f, d in violations) or "invalid request"
    return AppError(grpc.StatusCode.INVALID_ARGUMENT, reason, message, violations)


class Misconfigured(RuntimeError):
    """The deployment is set up so that the service cannot start (a key that does not open its
    data, a broker declared by an older version): the message is the one thing to do. The
    process stops with that line, not a traceback."""


class Malformed(Exception):
    """An event that can never be applied (its payload breaks the contract): the inbox
    dead-letters it at once, with this as its reason, instead of retrying it."""

    def __init__(self, violations: list[tuple[str, str]]) -> None:
        self.violations = violations[:MAX_VIOLATIONS]
        super().__init__("; ".join(f"{f}: {d}" for f, d in self.violations) or "malformed event")


def at_most(field_path: str, items: Sized, maximum: int, minimum: int = 0) -> None:
    """Refuse a repeated field with too many (or too few) items at once, from its length
    alone: before anything walks a million items."""
    if not minimum <= len(items) <= maximum:
        raise invalid([(field_path, f"{minimum} to {maximum} items")])


def parse_uuid(value: str, field_path: str = "member_id", what: str = "a member id") -> uuid.UUID:
    """The UUID in a request field, or INVALID_ARGUMENT naming the field."""
    v = Violations()
    parsed = v.uuid(field_path, value, what)
    v.raise_if_any()
    return parsed


def not_found(what: str, ident: str = "") -> AppError:
    return AppError(
        grpc.StatusCode.NOT_FOUND,
        f"{what.upper()}_NOT_FOUND",
        f"{what} not found",
        metadata={"id": ident} if ident else {},
    )


def already_exists(reason: str, message: str) -> AppError:
    return AppError(grpc.StatusCode.ALREADY_EXISTS, reason, message)


def refused(refusal: Refusal) -> AppError:
    """The error a caller gets for a refusal of a service's domain."""
    if refusal.quota:
        retry = refusal.metadata.get("retry_after_seconds")
        error = resource_exhausted(
            refusal.reason, refusal.message, int(retry) if retry and retry.isdigit() else None
        )
    else:
        error = failed_precondition(refusal.reason, refusal.message)
    error.metadata = dict(refusal.metadata)
    return error


def invalid_field(problem: FieldProblem) -> AppError:
    return invalid([(problem.field, problem.description)], problem.reason)


def failed_precondition(reason: str, message: str) -> AppError:
    return AppError(grpc.StatusCode.FAILED_PRECONDITION, reason, message)


def unauthenticated(reason: str = "UNAUTHENTICATED", message: str = "a valid token is required"):
    return AppError(grpc.StatusCode.UNAUTHENTICATED, reason, message)


def permission_denied(reason: str = "PERMISSION_DENIED", message: str = "not allowed") -> AppError:
    return AppError(grpc.StatusCode.PERMISSION_DENIED, reason, message)


def resource_exhausted(reason: str, message: str, retry_after: int | None = None) -> AppError:
    return AppError(
        grpc.StatusCode.RESOURCE_EXHAUSTED, reason, message, retry_after_seconds=retry_after
    )


def unavailable(reason: str, message: str, retry_after: int = 1) -> AppError:
    """A dependency (database, identity's keys) is briefly away: retry after `retry_after` s."""
    return AppError(grpc.StatusCode.UNAVAILABLE, reason, message, retry_after_seconds=retry_after)


class Violations:
    """Collects field violations so one response names every bad field."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []

    def add(self, field_path: str, description: str) -> None:
        if len(self.items) < MAX_VIOLATIONS:
            self.items.append((field_path, description))

    def check(self, ok: bool, field_path: str, description: str) -> None:
        if not ok:
            self.add(field_path, description)

    def text(self, field_path: str, value: str, *, maximum: int, required: bool = True) -> None:
        """A bounded line of text: required unless said otherwise, no NUL or other control
        character (PostgreSQL refuses NUL; the others have no place in a name or a reason)."""
        if len(value) > maximum:  # first: nothing below walks an oversized value
            self.add(field_path, f"at most {maximum} characters")
        elif required and not value.strip():
            self.add(field_path, "required")
        elif _CONTROL.search(value):
            self.add(field_path, "must not contain control characters")

    def uuid(self, field_path: str, value: str, what: str = "an id") -> uuid.UUID:
        """The UUID in `value`; when it is none, a violation is recorded and the nil UUID
        stands in (never used: `raise_if_any` or `raise_malformed` follows)."""
        try:
            return uuid.UUID(value)
        except (ValueError, TypeError, AttributeError):
            self.add(field_path, f"must be {what} (UUID)")
            return uuid.UUID(int=0)

    def names(self, field_path: str) -> bool:
        return any(f == field_path for f, _ in self.items)

    def raise_if_any(self, reason: str = "INVALID_ARGUMENT") -> None:
        if self.items:
            raise invalid(self.items, reason)

    def raise_malformed(self) -> None:
        """For events: a bad field is the message's own fault (see Malformed)."""
        if self.items:
            raise Malformed(self.items)


def to_status(error: AppError, domain: str) -> status_pb2.Status:
    """The google.rpc.Status carried in the grpc-status-details-bin trailer."""
    details = []
    info = error_details_pb2.ErrorInfo(reason=error.reason, domain=domain, metadata=error.metadata)
    details.append(info)
    if error.violations:
        details.append(
            error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(field=f, description=d)
                    for f, d in error.violations
                ]
            )
        )
    if error.retry_after_seconds is not None:
        retry = error_details_pb2.RetryInfo()
        retry.retry_delay.FromSeconds(error.retry_after_seconds)
        details.append(retry)
    packed = []
    for detail in details:
        any_msg = any_pb2.Any()
        any_msg.Pack(detail)
        packed.append(any_msg)
    return status_pb2.Status(
        code=getattr(code_pb2, error.code.name), message=error.message, details=packed
    )
