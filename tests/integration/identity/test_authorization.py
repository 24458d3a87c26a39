"""Object-level authorization: a member acts only on itself; operator RPCs need scopes."""

from __future__ import annotations

import base64
import datetime as dt
import json

import grpc
import pytest
from google.protobuf import field_mask_pb2

from loyalty.identity.v1 import identity_service_pb2 as pb
from loyalty.identity.v1 import resources_pb2 as res
from services.identity import crypto
from tests.support import idnum
from tests.support.ids import uid

from .helpers import PASSWORD, bearer, fails, link_request, register, snapshot

DENIED = grpc.StatusCode.PERMISSION_DENIED
UNAUTHENTICATED = grpc.StatusCode.UNAUTHENTICATED


def member_calls(stub, target: str):
    """Every RPC that acts on one member and that the member itself may call."""
    return {
        "GetMember": lambda md: stub.GetMember(pb.GetMemberRequest(member_id=target), metadata=md),
        "UpdateProfile": lambda md: stub.UpdateProfile(
            pb.UpdateProfileRequest(
                request_id=uid(),
                member_id=target,
                profile=res.Profile(nickname="hijacked"),
                update_mask=field_mask_pb2.FieldMask(paths=["nickname"]),
            ),
            metadata=md,
        ),
        "VerifyRealName": lambda md: stub.VerifyRealName(
            pb.VerifyRealNameRequest(
                request_id=uid(), member_id=target, legal_name="李四", id_number=idnum.make(7)
            ),
            metadata=md,
        ),
        "LinkAccount": lambda md: stub.LinkAccount(
            link_request(target, "wechat", "wx-attacker"),
            metadata=md,
        ),
        "UnlinkAccount": lambda md: stub.UnlinkAccount(
            pb.UnlinkAccountRequest(request_id=uid(), member_id=target, provider="wechat"),
            metadata=md,
        ),
        "CloseMember": lambda md: stub.CloseMember(
            # A member proves itself again with its password; operators ignore it.
            pb.CloseMemberRequest(
                request_id=uid(), member_id=target, reason="bye", password=PASSWORD
            ),
            metadata=md,
        ),
    }


def operator_calls(stub, target: str):
    """RPCs only operators and services may call, with the scope each needs."""
    return {
        "FreezeMember": (
            "identity:admin",
            lambda md: stub.FreezeMember(
                pb.FreezeMemberRequest(request_id=uid(), member_id=target, reason="risk"),
                metadata=md,
            ),
        ),
        "UnfreezeMember": (
            "identity:admin",
            lambda md: stub.UnfreezeMember(
                pb.UnfreezeMemberRequest(request_id=uid(), member_id=target, reason="ok"),
                metadata=md,
            ),
        ),
        "AddMemberTags": (
            "identity:write",
            lambda md: stub.AddMemberTags(
                pb.AddMemberTagsRequest(request_id=uid(), member_id=target, tags=["vip"]),
                metadata=md,
            ),
        ),
        "RemoveMemberTags": (
            "identity:write",
            lambda md: stub.RemoveMemberTags(
                pb.RemoveMemberTagsRequest(request_id=uid(), member_id=target, tags=["vip"]),
                metadata=md,
            ),
        ),
        "ListMembers": (
            "identity:read",
            lambda md: stub.ListMembers(pb.ListMembersRequest(), metadata=md),
        ),
        "CreateClient": (
            "identity:admin",
            lambda md: stub.CreateClient(
                pb.CreateClientRequest(
                    request_id=uid(),
                    client_id="sneaky-client",
                    kind=res.CLIENT_KIND_SERVICE,
                    scopes=["identity:admin"],
                ),
                metadata=md,
            ),
        ),
        "ListClients": (
            "identity:admin",
            lambda md: stub.ListClients(pb.ListClientsRequest(), metadata=md),
        ),
        "DisableClient": (
            "identity:admin",
            lambda md: stub.DisableClient(
                pb.DisableClientRequest(request_id=uid(), client_id="sneaky-client"), metadata=md
            ),
        ),
        "RotateClientSecret": (
            "identity:admin",
            lambda md: stub.RotateClientSecret(
                pb.RotateClientSecretRequest(request_id=uid(), client_id="sneaky-client"),
                metadata=md,
            ),
        ),
    }


@pytest.fixture
async def two_members(identity):
    return await register(identity), await register(identity)


@pytest.mark.parametrize(
    "rpc",
    ["GetMember", "UpdateProfile", "VerifyRealName", "LinkAccount", "UnlinkAccount", "CloseMember"],
)
async def test_member_token_on_another_member_is_not_owner(
    identity, identity_app, two_members, rpc
):
    alice, bob = two_members
    before = await snapshot(identity_app.pool)
    await fails(member_calls(identity, bob.member_id)[rpc](alice.auth), DENIED, "NOT_OWNER")
    assert await snapshot(identity_app.pool) == before


@pytest.mark.parametrize(
    "rpc",
    ["GetMember", "UpdateProfile", "VerifyRealName", "LinkAccount", "UnlinkAccount", "CloseMember"],
)
async def test_no_token_is_unauthenticated(identity, identity_app, two_members, rpc):
    _, bob = two_members
    before = await snapshot(identity_app.pool)
    await fails(member_calls(identity, bob.member_id)[rpc](()), UNAUTHENTICATED)
    assert await snapshot(identity_app.pool) == before


def forged_tokens(member_id: str, genuine: str) -> dict[str, str]:
    """Tokens that must not authenticate anyone."""
    header, payload, signature = genuine.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = member_id  # impersonate the victim, keep the signature
    tampered = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    kid, pem = crypto.new_signing_key()
    foreign = crypto.Signer([(kid, pem)], "loyalty-identity", "loyalty").access_token(
        subject=member_id, kind="member", ttl=300, now=dt.datetime.now(dt.UTC)
    )
    return {
        "garbage": "garbage",
        "three-parts": "a.b.c",
        "tampered-subject": f"{header}.{tampered}.{signature}",
        "foreign-key": foreign,
    }


async def test_garbage_and_forged_tokens_are_unauthenticated(identity, identity_app, two_members):
    alice, bob = two_members
    before = await snapshot(identity_app.pool)
    for name, token in forged_tokens(bob.member_id, alice.tokens.access_token).items():
        for rpc, call in member_calls(identity, bob.member_id).items():
            failure = await fails(call(bearer(token)), UNAUTHENTICATED)
            assert failure.reason == "INVALID_TOKEN", (name, rpc)
    assert await snapshot(identity_app.pool) == before


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "token-only"])
async def test_malformed_authorization_header_is_unauthenticated(identity, two_members, header):
    alice, _ = two_members
    await fails(
        identity.GetMember(
            pb.GetMemberRequest(member_id=alice.member_id), metadata=(("authorization", header),)
        ),
        UNAUTHENTICATED,
    )


async def test_expired_token_is_unauthenticated(identity, two_members, mint):
    alice, _ = two_members
    await fails(
        identity.GetMember(
            pb.GetMemberRequest(member_id=alice.member_id), metadata=mint(alice.member_id, ttl=-60)
        ),
        UNAUTHENTICATED,
        "TOKEN_EXPIRED",
    )


@pytest.mark.parametrize(
    "rpc",
    [
        "FreezeMember",
        "UnfreezeMember",
        "AddMemberTags",
        "RemoveMemberTags",
        "ListMembers",
        "CreateClient",
        "ListClients",
        "DisableClient",
        "RotateClientSecret",
    ],
)
async def test_member_token_on_operator_rpcs_is_permission_denied(
    identity, identity_app, two_members, mint, rpc
):
    alice, _ = two_members
    scope, call = operator_calls(identity, alice.member_id)[rpc]
    before = await snapshot(identity_app.pool)
    # Even on itself, and even when a member token somehow claims the scope.
    await fails(call(alice.auth), DENIED)
    await fails(call(mint(alice.member_id, "member", [scope])), DENIED)
    await fails(call(()), UNAUTHENTICATED)
    assert await snapshot(identity_app.pool) == before


@pytest.mark.parametrize(
    "rpc",
    [
        "FreezeMember",
        "UnfreezeMember",
        "AddMemberTags",
        "RemoveMemberTags",
        "ListMembers",
        "CreateClient",
        "ListClients",
        "DisableClient",
        "RotateClientSecret",
    ],
)
async def test_operator_without_the_scope_is_missing_scope(
    identity, identity_app, two_members, mint, rpc
):
    alice, _ = two_members
    scope, call = operator_calls(identity, alice.member_id)[rpc]
    # Scopes are not ranked: the RPC's own scope is needed, whatever else the token holds.
    others = {"identity:read", "identity:write", "identity:admin", "points:grant"} - {scope}
    before = await snapshot(identity_app.pool)
    await fails(call(mint("ops-1", "operator", sorted(others))), DENIED, "MISSING_SCOPE")
    assert await snapshot(identity_app.pool) == before


@pytest.mark.parametrize(
    ("rpc", "scope"),
    [
        ("GetMember", "identity:read"),
        ("UpdateProfile", "identity:write"),
        ("LinkAccount", "identity:write"),
        ("CloseMember", "identity:admin"),
    ],
)
async def test_member_rpcs_need_the_scope_for_operators(identity, two_members, mint, rpc, scope):
    _, bob = two_members
    call = member_calls(identity, bob.member_id)[rpc]
    await fails(call(mint("ops-1", "operator", ["points:grant"])), DENIED, "MISSING_SCOPE")
    await call(mint("ops-1", "operator", [scope]))  # with the scope it works


async def test_a_member_acts_on_itself(identity, two_members):
    alice, _ = two_members
    calls = member_calls(identity, alice.member_id)
    assert (await calls["GetMember"](alice.auth)).member.member_id == alice.member_id
    assert (await calls["UpdateProfile"](alice.auth)).member.profile.nickname == "hijacked"
    assert (await calls["LinkAccount"](alice.auth)).member.linked_accounts
    assert (await calls["CloseMember"](alice.auth)).member.status == res.MEMBER_STATUS_CLOSED
