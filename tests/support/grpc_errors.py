"""Reads the rich error details (google.rpc.Status) of a failed call."""

from __future__ import annotations

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status


def details(error: grpc.aio.AioRpcError) -> tuple[str, list[str]]:
    """(ErrorInfo.reason, the fields named in BadRequest)."""
    status = rpc_status.from_call(error)
    reason, fields = "", []
    for detail in status.details if status else []:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reason = info.reason
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            fields = [v.field for v in bad.field_violations]
    return reason, fields
