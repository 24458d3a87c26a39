"""Every RPC authenticates, authorises and counts its repeated fields before it reads an item:
a request with a million tags or 300,000 mask paths is answered at once, and costs other
callers nothing."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from google.protobuf import field_mask_pb2

from loyalty.identity.v1 import identity_service_pb2 as pb
from loyalty.identity.v1 import resources_pb2 as res
from tests.support.grpc_errors import assert_error
from tests.support.ids import uid

from .helpers import register

SERVICE = "/loyalty.identity.v1.IdentityService/"
TAGS = ["v"] * 1_000_000  # 3 MB: under the 4 MiB a request may have
PATHS = ["nickname"] * 300_000
WRITE = ("crm-1", "operator", ["identity:write"])
ADMIN = ("ops-1", "operator", ["identity:admin", "identity:read"])


@pytest.fixture
async def raw(identity_app):
    """Calls with requests serialised once, up front: the test's own process would otherwise
    spend the time building them, and the deadlines would measure that."""
    channel = grpc.aio.insecure_channel(
        f"127.0.0.1:{identity_app.grpc_port}",
        options=[("grpc.max_send_message_length", 8 * 1024 * 1024)],
    )

    def call(method: str, request: bytes, metadata=(), timeout: float = 2.0):
        return channel.unary_unary(SERVICE + method)(request, metadata=metadata, timeout=timeout)

    yield call
    await channel.close()


def huge_requests(member_id: str) -> dict[str, tuple[str, bytes]]:
    return {
        "tags": (
            "AddMemberTags",
            pb.AddMemberTagsRequest(
                request_id=uid(), member_id=member_id, tags=TAGS
            ).SerializeToString(),
        ),
        "untags": (
            "RemoveMemberTags",
            pb.RemoveMemberTagsRequest(
                request_id=uid(), member_id=member_id, tags=TAGS
            ).SerializeToString(),
        ),
        "mask": (
            "UpdateProfile",
            pb.UpdateProfileRequest(
                request_id=uid(),
                member_id=member_id,
                profile=res.Profile(nickname="x"),
                update_mask=field_mask_pb2.FieldMask(paths=PATHS),
            ).SerializeToString(),
        ),
        "scopes": (
            "CreateClient",
            pb.CreateClientRequest(
                request_id=uid(),
                client_id="huge-client",
                kind=res.CLIENT_KIND_SERVICE,
                scopes=[""] * 1_000_000,
            ).SerializeToString(),
        ),
    }


async def refused(call, code: grpc.StatusCode, reason: str | None = None, fields=None) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call
    assert err.value.code() != grpc.StatusCode.DEADLINE_EXCEEDED, "answered after its deadline"
    assert_error(err, code, reason, fields)


async def test_huge_requests_without_the_right_token_are_refused_within_their_deadline(
    identity, raw, mint
):
    alice, bob = await register(identity), await register(identity)
    requests = huge_requests(bob.member_id)
    for name, (method, request) in requests.items():
        await refused(raw(method, request), grpc.StatusCode.UNAUTHENTICATED)
        expected = "NOT_OWNER" if name == "mask" else None
        await refused(raw(method, request, alice.auth), grpc.StatusCode.PERMISSION_DENIED, expected)
    for method, request in (requests["tags"], requests["untags"]):
        await refused(
            raw(method, request, mint("ops-1", "operator", ["identity:read"])),
            grpc.StatusCode.PERMISSION_DENIED,
            "MISSING_SCOPE",
        )


async def test_huge_requests_with_the_right_token_are_invalid_within_their_deadline(
    identity, raw, mint
):
    bob = await register(identity)
    requests = huge_requests(bob.member_id)
    right = {"tags": mint(*WRITE), "untags": mint(*WRITE), "mask": bob.auth, "scopes": mint(*ADMIN)}
    field = {"tags": "tags", "untags": "tags", "mask": "update_mask", "scopes": "scopes"}
    for name, (method, request) in requests.items():
        await refused(
            raw(method, request, right[name]),
            grpc.StatusCode.INVALID_ARGUMENT,
            fields=[field[name]],
        )


async def test_huge_requests_leave_other_callers_their_deadline(identity, raw, mint):
    """Before: each was walked item by item on the event loop (0.1 to 0.5 s apiece), so a few
    of them made every other call wait."""
    bob = await register(identity)
    requests = huge_requests(bob.member_id)
    right = {"tags": mint(*WRITE), "untags": mint(*WRITE), "mask": bob.auth, "scopes": mint(*ADMIN)}
    flood = [
        asyncio.ensure_future(raw(method, request, right[name], timeout=10))
        for _ in range(2)
        for name, (method, request) in requests.items()
    ]
    try:
        await asyncio.sleep(0.1)  # the flood is in
        got = await identity.GetMember(
            pb.GetMemberRequest(member_id=bob.member_id), metadata=bob.auth, timeout=1.5
        )
        assert got.member.member_id == bob.member_id
    finally:
        answers = await asyncio.gather(*flood, return_exceptions=True)
    assert all(
        isinstance(a, grpc.aio.AioRpcError) and a.code() == grpc.StatusCode.INVALID_ARGUMENT
        for a in answers
    ), answers
