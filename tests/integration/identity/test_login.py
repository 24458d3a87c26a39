"""Login: tokens that work, uniform failures, failures counted (see test_login_throttling)."""

from __future__ import annotations

import datetime as dt
import uuid

import grpc
import jwt

from loyalty.identity.v1 import identity_service_pb2 as pb
from loyalty.identity.v1 import resources_pb2 as res
from tests.support.ids import uid

from .helpers import PASSWORD, bearer, fails, register, snapshot

UNAUTHENTICATED = grpc.StatusCode.UNAUTHENTICATED


async def counted(identity_app, key_prefix: str) -> dict[str, int]:
    """Hits in the login rate limits whose key starts with `key_prefix`, by limit."""
    rows = await identity_app.pool.fetch(
        "SELECT name, sum(cardinality(stamps)) AS hits FROM rate_limits"
        " WHERE name LIKE 'identity.login.%' AND key LIKE $1 || '%' GROUP BY name",
        key_prefix,
    )
    return {r["name"]: r["hits"] for r in rows if r["hits"]}


async def test_login_returns_tokens_that_work_on_get_member(identity, identity_app):
    member = await register(identity, login=False, email="Li.Lei@Example.com")
    for identifier in (member.phone, f"+86 {member.phone}", "li.lei@EXAMPLE.com"):
        response = await identity.Login(pb.LoginRequest(identifier=identifier, password=PASSWORD))
        assert response.member_id == member.member_id
        tokens = response.tokens
        assert tokens.token_type == "Bearer"
        assert tokens.access_token and tokens.refresh_token
        now = dt.datetime.now(dt.UTC)
        assert tokens.access_expire_time.ToDatetime(dt.UTC) > now
        assert tokens.refresh_expire_time.ToDatetime(dt.UTC) > tokens.access_expire_time.ToDatetime(
            dt.UTC
        )
        got = await identity.GetMember(
            pb.GetMemberRequest(member_id=member.member_id), metadata=bearer(tokens.access_token)
        )
        assert got.member.member_id == member.member_id
    tokens = await identity_app.pool.fetch(
        "SELECT token_hash FROM refresh_tokens WHERE member_id = $1", member.uuid
    )
    assert len(tokens) == 3  # one refresh token per sign-in, stored as a hash
    assert all(len(t["token_hash"]) == 32 for t in tokens)


async def test_wrong_password_is_invalid_credentials_and_counts(identity, identity_app):
    member = await register(identity, login=False)
    await fails(
        identity.Login(pb.LoginRequest(identifier=member.phone, password="wrong-pass1")),
        UNAUTHENTICATED,
        "INVALID_CREDENTIALS",
    )
    # Counted for the account, for the account from this source, and for this source.
    assert await counted(identity_app, f"member:{member.member_id}") == {
        "identity.login.account": 1,
        "identity.login.account_source.minute": 1,
        "identity.login.account_source.hour": 1,
    }
    assert await counted(identity_app, "") == {
        "identity.login.account": 1,
        "identity.login.account_source.minute": 1,
        "identity.login.account_source.hour": 1,
        "identity.login.source": 1,
    }
    assert await identity_app.pool.fetchval("SELECT count(*) FROM refresh_tokens") == 0


async def test_unknown_identifier_fails_exactly_like_a_wrong_password(identity, identity_app):
    member = await register(identity, login=False)
    before = await snapshot(identity_app.pool)
    unknown = await fails(
        identity.Login(pb.LoginRequest(identifier="13700000001", password=PASSWORD)),
        UNAUTHENTICATED,
        "INVALID_CREDENTIALS",
    )
    assert await snapshot(identity_app.pool) == before
    wrong = await fails(
        identity.Login(pb.LoginRequest(identifier=member.phone, password="wrong-pass1")),
        UNAUTHENTICATED,
        "INVALID_CREDENTIALS",
    )
    assert unknown.message == wrong.message  # nothing tells which identifiers exist


async def test_frozen_member_may_still_sign_in(identity, mint):
    member = await register(identity, login=False)
    await identity.FreezeMember(
        pb.FreezeMemberRequest(request_id=uid(), member_id=member.member_id, reason="risk"),
        metadata=mint("ops-1", "operator", ["identity:admin"]),
    )
    response = await identity.Login(pb.LoginRequest(identifier=member.phone, password=PASSWORD))
    got = await identity.GetMember(
        pb.GetMemberRequest(member_id=member.member_id),
        metadata=bearer(response.tokens.access_token),
    )
    assert got.member.status == res.MEMBER_STATUS_FROZEN


async def test_member_without_password_cannot_sign_in_with_any_password(identity, mint):
    desk = mint("desk-1", "operator", ["identity:write"])
    await identity.RegisterMember(
        pb.RegisterMemberRequest(
            request_id=uid(), phone="13700000002", channel=res.REGISTRATION_CHANNEL_STORE_DESK
        ),
        metadata=desk,
    )
    await fails(
        identity.Login(pb.LoginRequest(identifier="13700000002", password=PASSWORD)),
        UNAUTHENTICATED,
        "INVALID_CREDENTIALS",
    )


async def test_malformed_login_input_is_invalid_argument(identity, identity_app):
    await register(identity, login=False)
    before = await snapshot(identity_app.pool)
    cases = [
        (pb.LoginRequest(identifier="", password=PASSWORD), ["identifier"]),
        (pb.LoginRequest(identifier="not a phone", password=PASSWORD), ["identifier"]),
        (pb.LoginRequest(identifier="a@b", password=PASSWORD), ["identifier"]),
        (pb.LoginRequest(identifier="13900000001", password=""), ["password"]),
        (pb.LoginRequest(identifier="13900000001", password="p" * 1000), ["password"]),
    ]
    for request, fields in cases:
        await fails(identity.Login(request), grpc.StatusCode.INVALID_ARGUMENT, fields=fields)
    assert await snapshot(identity_app.pool) == before


async def test_access_token_of_a_login_names_the_member(identity):
    member = await register(identity)
    claims = jwt.decode(member.tokens.access_token, options={"verify_signature": False})
    assert claims["sub"] == member.member_id
    assert claims["kind"] == "member"
    assert "scope" not in claims
    assert uuid.UUID(claims["sub"])
