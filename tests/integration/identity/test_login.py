"""Login: tokens that work, uniform failures, lockout after repeated failures."""

from __future__ import annotations

import datetime as dt
import uuid

import grpc
import jwt

from loyalty.identity.v1 import identity_service_pb2 as pb
from loyalty.identity.v1 import resources_pb2 as res
from tests.support.ids import uid

from .helpers import PASSWORD, bearer, fails, member_row, register, snapshot

UNAUTHENTICATED = grpc.StatusCode.UNAUTHENTICATED


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
    row = await member_row(identity_app.pool, member.member_id)
    assert row["failed_logins"] == 1
    assert row["locked_until"] is None
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


async def test_success_resets_the_failure_count(identity, identity_app):
    member = await register(identity, login=False)
    for _ in range(3):
        await fails(
            identity.Login(pb.LoginRequest(identifier=member.phone, password="wrong-pass1")),
            UNAUTHENTICATED,
            "INVALID_CREDENTIALS",
        )
    assert (await member_row(identity_app.pool, member.member_id))["failed_logins"] == 3
    await identity.Login(pb.LoginRequest(identifier=member.phone, password=PASSWORD))
    assert (await member_row(identity_app.pool, member.member_id))["failed_logins"] == 0


async def test_five_failures_lock_the_credential_even_for_the_right_password(
    identity, identity_app
):
    member = await register(identity, login=False)
    lock_minutes = identity_app.settings.lockout_minutes
    for attempt in range(1, 6):
        await fails(
            identity.Login(
                pb.LoginRequest(identifier=member.phone, password=f"wrong-pass{attempt}")
            ),
            UNAUTHENTICATED,
            "INVALID_CREDENTIALS",
        )
        row = await member_row(identity_app.pool, member.member_id)
        if attempt < 5:
            assert (row["failed_logins"], row["locked_until"]) == (attempt, None)
    row = await member_row(identity_app.pool, member.member_id)
    assert row["locked_until"] is not None
    remaining = row["locked_until"] - dt.datetime.now(dt.UTC)
    assert dt.timedelta(0) < remaining <= dt.timedelta(minutes=lock_minutes)

    locked = await fails(
        identity.Login(pb.LoginRequest(identifier=member.phone, password=PASSWORD)),
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "CREDENTIAL_LOCKED",
    )
    assert locked.retry_seconds is not None
    assert 0 < locked.retry_seconds <= lock_minutes * 60 + 1
    assert await identity_app.pool.fetchval("SELECT count(*) FROM refresh_tokens") == 0
    # Attempts while locked neither sign in nor extend the lock.
    again = await member_row(identity_app.pool, member.member_id)
    assert again["locked_until"] == row["locked_until"]


async def test_an_expired_lock_lets_the_member_in_again(identity, identity_app):
    member = await register(identity, login=False)
    await identity_app.pool.execute(
        "UPDATE members SET locked_until = now() - interval '1 second' WHERE member_id = $1",
        member.uuid,
    )
    response = await identity.Login(pb.LoginRequest(identifier=member.phone, password=PASSWORD))
    assert response.member_id == member.member_id
    assert (await member_row(identity_app.pool, member.member_id))["locked_until"] is None


async def test_lockout_of_one_member_does_not_touch_another(identity, identity_app):
    victim = await register(identity, login=False)
    other = await register(identity, login=False)
    for _ in range(5):
        await fails(
            identity.Login(pb.LoginRequest(identifier=victim.phone, password="wrong-pass1")),
            UNAUTHENTICATED,
        )
    await identity.Login(pb.LoginRequest(identifier=other.phone, password=PASSWORD))
    assert (await member_row(identity_app.pool, other.member_id))["locked_until"] is None


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
