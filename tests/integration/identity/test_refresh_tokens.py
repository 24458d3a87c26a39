"""Refresh tokens: rotation, reuse detection that ends the family, revocation."""

from __future__ import annotations

import uuid

import grpc

from loyalty.identity.v1 import identity_service_pb2 as pb

from .helpers import PASSWORD, bearer, fails, register, snapshot

UNAUTHENTICATED = grpc.StatusCode.UNAUTHENTICATED


async def refresh(stub, token: str):
    return (await stub.RefreshToken(pb.RefreshTokenRequest(refresh_token=token))).tokens


async def refused(stub, token: str):
    return await fails(
        stub.RefreshToken(pb.RefreshTokenRequest(refresh_token=token)),
        UNAUTHENTICATED,
        "REFRESH_TOKEN_INVALID",
    )


async def test_refresh_rotates_the_pair(identity, identity_app):
    member = await register(identity)
    first = member.tokens
    second = await refresh(identity, first.refresh_token)
    assert second.refresh_token != first.refresh_token
    assert second.access_token != first.access_token
    got = await identity.GetMember(
        pb.GetMemberRequest(member_id=member.member_id), metadata=bearer(second.access_token)
    )
    assert got.member.member_id == member.member_id
    third = await refresh(identity, second.refresh_token)
    assert len({first.refresh_token, second.refresh_token, third.refresh_token}) == 3
    rows = await identity_app.pool.fetch(
        "SELECT family_id, used_at, revoked_at FROM refresh_tokens WHERE member_id = $1"
        " ORDER BY created_at",
        member.uuid,
    )
    assert len(rows) == 3
    assert len({r["family_id"] for r in rows}) == 1  # one sign-in, one family
    assert [r["used_at"] is not None for r in rows] == [True, True, False]
    assert all(r["revoked_at"] is None for r in rows)


async def test_reusing_a_rotated_token_revokes_the_whole_family(identity, identity_app):
    member = await register(identity)
    stolen = member.tokens.refresh_token
    newer = await refresh(identity, stolen)
    await refused(identity, stolen)  # the thief (or the victim) replays the old token
    await refused(identity, newer.refresh_token)  # and the newer one dies with it
    rows = await identity_app.pool.fetch(
        "SELECT revoked_at FROM refresh_tokens WHERE member_id = $1", member.uuid
    )
    assert len(rows) == 2
    assert all(r["revoked_at"] is not None for r in rows)


async def test_family_revocation_spares_other_sign_ins(identity):
    member = await register(identity)
    other_device = (
        await identity.Login(pb.LoginRequest(identifier=member.phone, password=PASSWORD))
    ).tokens
    await refresh(identity, member.tokens.refresh_token)
    await refused(identity, member.tokens.refresh_token)
    assert (await refresh(identity, other_device.refresh_token)).refresh_token


async def test_revoke_then_refresh_fails(identity, identity_app):
    member = await register(identity)
    await identity.RevokeRefreshToken(
        pb.RevokeRefreshTokenRequest(refresh_token=member.tokens.refresh_token)
    )
    revoked = await identity_app.pool.fetchval(
        "SELECT revoked_at FROM refresh_tokens WHERE member_id = $1", member.uuid
    )
    assert revoked is not None
    await refused(identity, member.tokens.refresh_token)
    # Revoking twice is fine too.
    await identity.RevokeRefreshToken(
        pb.RevokeRefreshTokenRequest(refresh_token=member.tokens.refresh_token)
    )


async def test_revoking_an_unknown_token_succeeds_and_changes_nothing(identity, identity_app):
    await register(identity)
    before = await snapshot(identity_app.pool)
    await identity.RevokeRefreshToken(
        pb.RevokeRefreshTokenRequest(refresh_token="not-a-token-" + uuid.uuid4().hex)
    )
    assert await snapshot(identity_app.pool) == before


async def test_unknown_or_expired_refresh_tokens_fail(identity, identity_app):
    member = await register(identity)
    await refused(identity, "not-a-token-" + uuid.uuid4().hex)
    await refused(identity, member.tokens.access_token[:200])  # an access token is no refresh token
    await identity_app.pool.execute(
        "UPDATE refresh_tokens SET expires_at = now() - interval '1 second' WHERE member_id = $1",
        member.uuid,
    )
    await refused(identity, member.tokens.refresh_token)


async def test_missing_or_oversized_refresh_token_is_invalid_argument(identity):
    for token in ("", "x" * 1000):
        await fails(
            identity.RefreshToken(pb.RefreshTokenRequest(refresh_token=token)),
            grpc.StatusCode.INVALID_ARGUMENT,
            fields=["refresh_token"],
        )
        await fails(
            identity.RevokeRefreshToken(pb.RevokeRefreshTokenRequest(refresh_token=token)),
            grpc.StatusCode.INVALID_ARGUMENT,
            fields=["refresh_token"],
        )


async def test_raw_refresh_tokens_are_never_stored(identity, identity_app):
    member = await register(identity)
    stored = await identity_app.pool.fetch("SELECT * FROM refresh_tokens")
    assert member.tokens.refresh_token not in repr([dict(r) for r in stored])
    assert member.tokens.refresh_token.encode() not in b"".join(r["token_hash"] for r in stored)
