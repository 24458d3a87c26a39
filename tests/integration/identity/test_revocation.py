"""Revocation reaches every service in seconds: freezing or closing a member, a refresh token
used twice and disabling a client void the access tokens issued before, in identity and in
points alike (kit.revocations), until they expire. Unfreezing revives none of them."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable

import grpc
import pytest

from loyalty.identity.v1 import identity_service_pb2 as pb
from loyalty.identity.v1 import resources_pb2 as res
from loyalty.points.v1 import points_service_pb2 as ppb
from loyalty.points.v1 import points_service_pb2_grpc
from services.points.app import PointsApp
from tests.support import grpc_errors, harness, servers
from tests.support.ids import uid
from tests.support.waiting import wait_until

from .helpers import PASSWORD, bearer, fails, register

ADMIN = ("ops-root", "operator", ["identity:admin", "identity:read", "points:read"])
# "In seconds": every service refuses a revoked token within this (it takes milliseconds).
WITHIN = 3.0
SESSIONS_REVOKED = "loyalty.identity.member.sessions_revoked.v1"
CLIENT_DISABLED = "loyalty.identity.client.disabled.v1"

Call = Callable[[], Awaitable[object]]


@pytest.fixture(scope="module")
async def points_app(identity_app, amqp):
    """Points on a database and queues of its own, verifying identity's tokens."""
    async with harness.running(
        PointsApp,
        amqp,
        identity=identity_app,
        schedule=False,
        database_url=servers.database_url("points_revocation"),  # and so queues of its own
    ) as app:
        yield app


@pytest.fixture
def points(points_app):
    return harness.stub(points_app, points_service_pb2_grpc.PointsServiceStub)


def balance(points, member_id: str, metadata) -> Call:
    return lambda: points.GetBalance(ppb.GetBalanceRequest(member_id=member_id), metadata=metadata)


def profile(identity, member_id: str, metadata) -> Call:
    return lambda: identity.GetMember(pb.GetMemberRequest(member_id=member_id), metadata=metadata)


async def works(call: Call) -> bool:
    try:
        await call()
    except grpc.aio.AioRpcError as exc:
        if exc.code() == grpc.StatusCode.UNAUTHENTICATED:
            raise
        return False  # e.g. points has not learnt of the member yet
    return True


async def revoked_after(call: Call, started: float, what: str) -> float:
    """Seconds from `started` (time.monotonic) until `call` is refused as revoked; until then
    it must keep working."""

    async def refused() -> bool:
        try:
            await call()
        except grpc.aio.AioRpcError as exc:
            grpc_errors.assert_error(exc, grpc.StatusCode.UNAUTHENTICATED, "TOKEN_REVOKED")
            return True
        return False

    await wait_until(refused, WITHIN, what, interval=0.005)
    return time.monotonic() - started


async def known_to_points(points, member) -> None:
    await wait_until(
        lambda: works(balance(points, member.member_id, member.auth)),
        10,
        "points to learn of the member",
    )


@pytest.mark.parametrize("change", ["FreezeMember", "CloseMember"])
async def test_freezing_or_closing_a_member_voids_its_tokens_in_every_service_in_seconds(
    identity, identity_app, points, mint, change
):
    member = await register(identity)
    await known_to_points(points, member)
    assert await works(profile(identity, member.member_id, member.auth))
    request_class = getattr(pb, f"{change}Request")
    await getattr(identity, change)(
        request_class(request_id=uid(), member_id=member.member_id, reason="risk"),
        metadata=mint(*ADMIN),
    )
    started = time.monotonic()
    # The token was used (and is remembered as verified) in both: still refused.
    await asyncio.gather(
        revoked_after(balance(points, member.member_id, member.auth), started, "points"),
        revoked_after(profile(identity, member.member_id, member.auth), started, "identity"),
    )
    # Operators' tokens are untouched.
    assert await works(profile(identity, member.member_id, mint(*ADMIN)))


async def test_unfreezing_revives_no_token_but_a_new_sign_in_works(
    identity, identity_app, points, points_app, mint
):
    member = await register(identity)
    await known_to_points(points, member)
    await identity.FreezeMember(
        pb.FreezeMemberRequest(request_id=uid(), member_id=member.member_id, reason="risk"),
        metadata=mint(*ADMIN),
    )
    started = time.monotonic()
    await revoked_after(balance(points, member.member_id, member.auth), started, "points")
    await identity.UnfreezeMember(
        pb.UnfreezeMemberRequest(request_id=uid(), member_id=member.member_id, reason="ok"),
        metadata=mint(*ADMIN),
    )

    async def unfrozen_in_points() -> bool:
        status = await points_app.pool.fetchval(
            "SELECT status FROM member_accounts WHERE member_id = $1", member.uuid
        )
        return status == "active"

    await wait_until(unfrozen_in_points, 10, "points to apply member.unfrozen")
    for call in (
        balance(points, member.member_id, member.auth),
        profile(identity, member.member_id, member.auth),
    ):
        await revoked_after(call, time.monotonic(), "the old token to stay void")
    # Signing in again (a moment later: `iat` is to the microsecond) gives a token that works.
    again = await identity.Login(pb.LoginRequest(identifier=member.phone, password=PASSWORD))
    fresh = bearer(again.tokens.access_token)
    assert await works(balance(points, member.member_id, fresh))
    assert await works(profile(identity, member.member_id, fresh))


async def test_a_reused_refresh_token_voids_the_members_access_tokens_everywhere(
    identity, identity_app, points
):
    member = await register(identity)
    other_device = await identity.Login(pb.LoginRequest(identifier=member.phone, password=PASSWORD))
    await known_to_points(points, member)
    stolen = member.tokens.refresh_token
    rotated = await identity.RefreshToken(pb.RefreshTokenRequest(refresh_token=stolen))
    await fails(
        identity.RefreshToken(pb.RefreshTokenRequest(refresh_token=stolen)),
        grpc.StatusCode.UNAUTHENTICATED,
        "REFRESH_TOKEN_INVALID",
    )
    started = time.monotonic()
    # Every access token of the member issued until then: the first, the rotated one (the
    # thief's, perhaps) and the other device's.
    tokens = [member.tokens, rotated.tokens, other_device.tokens]
    await asyncio.gather(
        *(
            revoked_after(
                balance(points, member.member_id, bearer(t.access_token)), started, "points"
            )
            for t in tokens
        ),
        revoked_after(profile(identity, member.member_id, member.auth), started, "identity"),
    )
    (payload,) = await identity_app.pool.fetch(
        "SELECT subject, payload FROM outbox WHERE event_type = $1", SESSIONS_REVOKED
    )
    assert payload["subject"] == member.member_id
    assert set(payload["payload"]) == {"memberId", "cause", "revokedTime"}  # no personal data
    assert payload["payload"]["cause"] == "SESSIONS_REVOKED_CAUSE_REFRESH_TOKEN_REUSED"


async def test_a_disabled_clients_tokens_are_refused_everywhere_in_seconds(
    identity, identity_app, points, mint
):
    client_id = f"svc-{uuid.uuid4().hex[:8]}"
    created = await identity.CreateClient(
        pb.CreateClientRequest(
            request_id=uid(),
            client_id=client_id,
            kind=res.CLIENT_KIND_SERVICE,
            scopes=["identity:read", "points:read"],
        ),
        metadata=mint(*ADMIN),
    )
    issued = await identity.IssueClientToken(
        pb.IssueClientTokenRequest(client_id=client_id, client_secret=created.client_secret)
    )
    service = bearer(issued.access_token)
    member = await register(identity)
    await known_to_points(points, member)
    assert await works(balance(points, member.member_id, service))
    assert await works(profile(identity, member.member_id, service))
    await identity.DisableClient(
        pb.DisableClientRequest(request_id=uid(), client_id=client_id, reason="leaked"),
        metadata=mint(*ADMIN),
    )
    started = time.monotonic()
    await asyncio.gather(
        revoked_after(balance(points, member.member_id, service), started, "points"),
        revoked_after(profile(identity, member.member_id, service), started, "identity"),
    )
    # The member's own token is another subject's: it still works.
    assert await works(balance(points, member.member_id, member.auth))
    (row,) = await identity_app.pool.fetch(
        "SELECT subject, payload FROM outbox WHERE event_type = $1", CLIENT_DISABLED
    )
    assert row["subject"] == client_id
    assert set(row["payload"]) == {"clientId", "disabledTime"}
