"""AIP-193 errors: google.rpc.Status with ErrorInfo, BadRequest and RetryInfo."""

from __future__ import annotations

import grpc
import pytest
from google.rpc import code_pb2, error_details_pb2

from services.kit import errors


def _details(status):
    found = {}
    for detail in status.details:
        for kind in (
            error_details_pb2.ErrorInfo,
            error_details_pb2.BadRequest,
            error_details_pb2.RetryInfo,
        ):
            if detail.Is(kind.DESCRIPTOR):
                message = kind()
                detail.Unpack(message)
                found[kind.__name__] = message
    return found


def test_invalid_argument_carries_error_info_and_every_field_violation():
    error = errors.invalid([("phone", "not a phone number"), ("name", "required")])
    status = errors.to_status(error, "identity.loyalty")
    assert status.code == code_pb2.INVALID_ARGUMENT
    assert status.message == "phone: not a phone number; name: required"
    details = _details(status)
    assert details["ErrorInfo"].reason == "INVALID_ARGUMENT"
    assert details["ErrorInfo"].domain == "identity.loyalty"
    assert [(v.field, v.description) for v in details["BadRequest"].field_violations] == [
        ("phone", "not a phone number"),
        ("name", "required"),
    ]
    assert "RetryInfo" not in details


def test_request_id_reused_is_invalid_argument_with_its_reason():
    error = errors.invalid([("request_id", "already used")], "REQUEST_ID_REUSED")
    details = _details(errors.to_status(error, "points.loyalty"))
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert details["ErrorInfo"].reason == "REQUEST_ID_REUSED"
    assert details["BadRequest"].field_violations[0].field == "request_id"


def test_without_violations_there_is_no_bad_request():
    status = errors.to_status(errors.not_found("member", "m-1"), "identity.loyalty")
    details = _details(status)
    assert status.code == code_pb2.NOT_FOUND
    assert details["ErrorInfo"].reason == "MEMBER_NOT_FOUND"
    assert dict(details["ErrorInfo"].metadata) == {"id": "m-1"}
    assert set(details) == {"ErrorInfo"}


def test_resource_exhausted_carries_retry_info():
    error = errors.resource_exhausted("TOO_MANY_ATTEMPTS", "slow down", retry_after=30)
    details = _details(errors.to_status(error, "identity.loyalty"))
    assert details["RetryInfo"].retry_delay.seconds == 30


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (errors.already_exists("MEMBER_EXISTS", "m"), code_pb2.ALREADY_EXISTS),
        (errors.failed_precondition("INSUFFICIENT_POINTS", "m"), code_pb2.FAILED_PRECONDITION),
        (errors.unauthenticated(), code_pb2.UNAUTHENTICATED),
        (errors.permission_denied(), code_pb2.PERMISSION_DENIED),
    ],
)
def test_grpc_code_maps_to_the_rpc_code(error, code):
    assert errors.to_status(error, "x.loyalty").code == code


def test_violations_collect_then_raise_once():
    violations = errors.Violations()
    violations.check(True, "a", "fine")
    violations.check(False, "b", "bad")
    violations.add("c", "also bad")
    assert violations.names("b") and not violations.names("a")
    with pytest.raises(errors.AppError) as raised:
        violations.raise_if_any()
    assert raised.value.violations == [("b", "bad"), ("c", "also bad")]
    errors.Violations().raise_if_any()  # nothing collected: no error
