"""Reads and checks failed calls: the status code and the rich details (google.rpc.Status) a
service sends, or the kit's AppError where a test calls the kit directly."""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from dataclasses import dataclass

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from services.kit import errors


@dataclass(frozen=True)
class Failure:
    code: grpc.StatusCode
    reason: str  # ErrorInfo.reason
    fields: list[str]  # the fields BadRequest names, in order
    retry_seconds: float | None  # RetryInfo, when sent
    domain: str  # ErrorInfo.domain ("" for an AppError: the gRPC edge adds it)
    message: str


def failure_of(error: grpc.aio.AioRpcError | errors.AppError | pytest.ExceptionInfo) -> Failure:
    if isinstance(error, pytest.ExceptionInfo):
        error = error.value
    if isinstance(error, errors.AppError):
        return Failure(
            error.code,
            error.reason,
            [field for field, _ in error.violations],
            error.retry_after_seconds,
            "",
            error.message,
        )
    reason, fields, retry, domain = "", [], None, ""
    status = rpc_status.from_call(error)
    for detail in status.details if status else []:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reason, domain = info.reason, info.domain
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            fields = [v.field for v in bad.field_violations]
        elif detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            retry_info = error_details_pb2.RetryInfo()
            detail.Unpack(retry_info)
            retry = retry_info.retry_delay.ToTimedelta().total_seconds()
    return Failure(error.code(), reason, fields, retry, domain, error.details() or "")


def details(error: grpc.aio.AioRpcError) -> tuple[str, list[str]]:
    """(ErrorInfo.reason, the fields named in BadRequest)."""
    failure = failure_of(error)
    return failure.reason, failure.fields


def assert_error(
    error: grpc.aio.AioRpcError | errors.AppError | pytest.ExceptionInfo,
    code: grpc.StatusCode | None = None,
    reason: str | None = None,
    fields: Sequence[str] | None = None,
    *,
    domain: str | None = None,
) -> Failure:
    """The error has `code`, `reason`, exactly `fields` (in order; [] for none) and `domain`;
    what is left None is not checked. Returns what was found, for further checks."""
    failure = failure_of(error)
    if code is not None:
        assert failure.code == code, failure
    if reason is not None:
        assert failure.reason == reason, failure
    if fields is not None:
        assert failure.fields == list(fields), failure
    if domain is not None:
        assert failure.domain == domain, failure
    return failure


async def fails(
    call: Awaitable,
    code: grpc.StatusCode | None = None,
    reason: str | None = None,
    fields: Sequence[str] | None = None,
    *,
    domain: str | None = None,
) -> Failure:
    """Await `call`, which must fail with a gRPC error that `assert_error` accepts."""
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call
    return assert_error(err, code, reason, fields, domain=domain)
