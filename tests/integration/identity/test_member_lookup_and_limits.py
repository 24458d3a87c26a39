"""Unknown and malformed member ids, and oversized fields, on every member RPC."""

from __future__ import annotations

import uuid

import grpc
import pytest
from google.protobuf import field_mask_pb2

from loyalty.identity.v1 import identity_service_pb2 as pb
from loyalty.identity.v1 import resources_pb2 as res
from tests.support import idnum
from tests.support.ids import uid

from .helpers import fails, link_request, register, snapshot

EVERY_SCOPE = ("ops-1", "operator", ["identity:read", "identity:write", "identity:admin"])


def requests_for(member_id: str) -> dict:
    return {
        "GetMember": pb.GetMemberRequest(member_id=member_id),
        "UpdateProfile": pb.UpdateProfileRequest(
            request_id=uid(),
            member_id=member_id,
            profile=res.Profile(nickname="x"),
            update_mask=field_mask_pb2.FieldMask(paths=["nickname"]),
        ),
        "VerifyRealName": pb.VerifyRealNameRequest(
            request_id=uid(), member_id=member_id, legal_name="张三", id_number=idnum.make(21)
        ),
        "LinkAccount": link_request(member_id, "qq", "qq-1"),
        "UnlinkAccount": pb.UnlinkAccountRequest(
            request_id=uid(), member_id=member_id, provider="qq"
        ),
        "FreezeMember": pb.FreezeMemberRequest(
            request_id=uid(), member_id=member_id, reason="risk"
        ),
        "UnfreezeMember": pb.UnfreezeMemberRequest(
            request_id=uid(), member_id=member_id, reason="ok"
        ),
        "CloseMember": pb.CloseMemberRequest(request_id=uid(), member_id=member_id, reason="x"),
        "AddMemberTags": pb.AddMemberTagsRequest(
            request_id=uid(), member_id=member_id, tags=["vip"]
        ),
        "RemoveMemberTags": pb.RemoveMemberTagsRequest(
            request_id=uid(), member_id=member_id, tags=["vip"]
        ),
    }


RPCS = list(requests_for(""))


@pytest.mark.parametrize("rpc", RPCS)
async def test_unknown_member_is_not_found_and_changes_nothing(identity, identity_app, mint, rpc):
    await register(identity, login=False)
    before = await snapshot(identity_app.pool)
    unknown = str(uuid.uuid4())
    failure = await fails(
        getattr(identity, rpc)(requests_for(unknown)[rpc], metadata=mint(*EVERY_SCOPE)),
        grpc.StatusCode.NOT_FOUND,
        "MEMBER_NOT_FOUND",
    )
    assert failure.fields == []
    assert await snapshot(identity_app.pool) == before


@pytest.mark.parametrize("rpc", RPCS)
@pytest.mark.parametrize("member_id", ["", "not-a-uuid", "' OR 1=1 --", "0190a8e2-5b1c-7d3e-8f4a"])
async def test_malformed_member_id_is_invalid_argument(
    identity, identity_app, mint, rpc, member_id
):
    await register(identity, login=False)
    before = await snapshot(identity_app.pool)
    await fails(
        getattr(identity, rpc)(requests_for(member_id)[rpc], metadata=mint(*EVERY_SCOPE)),
        grpc.StatusCode.INVALID_ARGUMENT,
        fields=["member_id"],
    )
    assert await snapshot(identity_app.pool) == before


async def test_oversized_fields_are_invalid_and_change_nothing(identity, identity_app, mint):
    member = await register(identity)
    m = member.member_id
    md = mint(*EVERY_SCOPE)
    big = "x" * 1000
    cases = [
        (
            identity.VerifyRealName,
            pb.VerifyRealNameRequest(
                request_id=uid(), member_id=m, legal_name=big, id_number=idnum.make(22)
            ),
            ["legal_name"],
        ),
        (
            identity.VerifyRealName,
            pb.VerifyRealNameRequest(
                request_id=uid(), member_id=m, legal_name="张三", id_number="1" * 1000
            ),
            ["id_number"],
        ),
        (
            identity.LinkAccount,
            pb.LinkAccountRequest(request_id=uid(), member_id=m, provider="qq", assertion=big * 10),
            ["assertion"],
        ),
        (
            identity.LinkAccount,
            link_request(m, "qq", "qq-1", subject=big),
            ["subject"],
        ),
        (
            identity.LinkAccount,
            link_request(m, big, "s"),
            ["provider"],
        ),
        (
            identity.FreezeMember,
            pb.FreezeMemberRequest(request_id=uid(), member_id=m, reason=big),
            ["reason"],
        ),
        (
            identity.CloseMember,
            pb.CloseMemberRequest(request_id=uid(), member_id=m, reason=big),
            ["reason"],
        ),
        (
            identity.UpdateProfile,
            pb.UpdateProfileRequest(
                request_id=uid(),
                member_id=m,
                profile=res.Profile(nickname=big, region=big),
                update_mask=field_mask_pb2.FieldMask(paths=["nickname", "region"]),
            ),
            ["profile.nickname", "profile.region"],
        ),
        (
            identity.AddMemberTags,
            pb.AddMemberTagsRequest(request_id=uid(), member_id=m, tags=[big]),
            ["tags[0]"],
        ),
        (
            identity.UpdateProfile,
            pb.UpdateProfileRequest(request_id="r" * 1000, member_id=m),
            ["request_id"],
        ),
    ]
    before = await snapshot(identity_app.pool)
    for rpc, request, fields in cases:
        await fails(rpc(request, metadata=md), grpc.StatusCode.INVALID_ARGUMENT, fields=fields)
    assert await snapshot(identity_app.pool) == before


@pytest.mark.parametrize("rpc", [r for r in RPCS if r != "GetMember"])
async def test_mutations_without_request_id_are_invalid(identity, identity_app, mint, rpc):
    member = await register(identity, login=False)
    request = requests_for(member.member_id)[rpc]
    request.request_id = ""
    before = await snapshot(identity_app.pool)
    await fails(
        getattr(identity, rpc)(request, metadata=mint(*EVERY_SCOPE)),
        grpc.StatusCode.INVALID_ARGUMENT,
        fields=["request_id"],
    )
    assert await snapshot(identity_app.pool) == before
