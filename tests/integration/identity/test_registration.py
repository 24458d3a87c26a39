"""Registration, events on the bus, idempotency and validation through the gRPC API. Contacts
are proven with codes from the fake sender (test_verification_codes: the codes themselves)."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import grpc
import pytest

from loyalty.identity.v1 import identity_service_pb2 as pb
from loyalty.identity.v1 import resources_pb2 as res
from tests.support.grpc_errors import assert_error
from tests.support.ids import uid

from .helpers import proven

APP = res.REGISTRATION_CHANNEL_APP


def register_request(phone="13812345678", **kw):
    """A registration whose codes have the right shape (validation looks no further)."""
    kw.setdefault("request_id", uid())
    kw.setdefault("password", "s3cret-pass")
    kw.setdefault("channel", APP)
    kw.setdefault("phone_verification_code", "000000")
    kw.setdefault("email_verification_code", "000000")
    return pb.RegisterMemberRequest(phone=phone, **kw)


@pytest.fixture
def clock(identity_app):
    """Identity's time, to move past the one code a minute an address may be sent."""
    identity_app.deps.clock.set(dt.datetime.now(dt.UTC))
    return identity_app.deps.clock


async def count_members(identity_app) -> int:
    return await identity_app.pool.fetchval("SELECT count(*) FROM members")


async def test_register_stores_member_and_publishes_cloudevent(identity, identity_app, tap):
    request = register_request(email="Li.Lei@Example.COM", profile=res.Profile(nickname="lei"))
    response = await identity.RegisterMember(await proven(identity, request))
    member = response.member
    assert member.phone == "+86138****5678"
    assert member.email == "l***@example.com"
    assert member.status == res.MEMBER_STATUS_ACTIVE
    row = await identity_app.pool.fetchrow(
        "SELECT phone, email, password_hash FROM members WHERE member_id = $1",
        uuid.UUID(member.member_id),
    )
    assert row["phone"] == "+8613812345678"
    assert row["email"] == "li.lei@example.com"
    assert row["password_hash"].startswith("$argon2id$")

    (event,) = await tap.wait_for("loyalty.identity.member.registered.v1", member.member_id)
    assert event.source == "/loyalty/identity"
    assert event.data["memberId"] == member.member_id
    assert event.data["channel"] == "REGISTRATION_CHANNEL_APP"
    assert event.data["filledFields"] == ["nickname"]  # names only, for growth's completeness
    raw = [m for m in tap.raw("loyalty.identity.member.registered.v1") if m.message_id == event.id][
        0
    ]
    assert raw.headers["ce-specversion"] == "1.0"
    assert raw.headers["ce-id"] == event.id == raw.message_id
    assert uuid.UUID(event.id)
    assert raw.content_type == "application/json"
    assert "13812345678" not in raw.body.decode()  # no personal data in events


async def test_duplicate_phone_is_already_exists_and_changes_nothing(identity, identity_app, clock):
    await identity.RegisterMember(await proven(identity, register_request()))
    clock.advance(minutes=1)
    again = await proven(identity, register_request(phone="+86 138 1234 5678"))
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await identity.RegisterMember(again)
    assert_error(err, grpc.StatusCode.ALREADY_EXISTS, "PHONE_ALREADY_REGISTERED")
    assert await count_members(identity_app) == 1


async def test_duplicate_email_is_already_exists(identity, clock):
    await identity.RegisterMember(
        await proven(identity, register_request("", email="a@example.com"))
    )
    clock.advance(minutes=1)
    again = await proven(identity, register_request(phone="", email="A@example.com"))
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await identity.RegisterMember(again)
    assert_error(err, grpc.StatusCode.ALREADY_EXISTS, "EMAIL_ALREADY_REGISTERED")


async def test_referral_code_records_referrer(identity, tap):
    referrer = (await identity.RegisterMember(await proven(identity, register_request()))).member
    request = register_request(phone="13912345678", referral_code=referrer.referral_code.lower())
    referee = (await identity.RegisterMember(await proven(identity, request))).member
    assert referee.referred_by == referrer.member_id
    (event,) = await tap.wait_for("loyalty.identity.member.registered.v1", referee.member_id)
    assert event.data["referredBy"] == referrer.member_id


async def test_unknown_referral_code_is_invalid_and_changes_nothing(identity, identity_app):
    request = await proven(identity, register_request(referral_code="NOSUCH22"))
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await identity.RegisterMember(request)
    assert_error(err, grpc.StatusCode.INVALID_ARGUMENT, "REFERRAL_CODE_INVALID", ["referral_code"])
    assert await count_members(identity_app) == 0
    # The refusal did not use the code up: the registration goes through with it corrected.
    request.referral_code = ""
    request.request_id = uid()
    assert (await identity.RegisterMember(request)).member.member_id


async def test_replay_returns_first_response_once(identity, identity_app):
    request = await proven(identity, register_request())
    first = await identity.RegisterMember(request)
    second = await identity.RegisterMember(request)
    assert first == second
    assert await count_members(identity_app) == 1
    outbox = await identity_app.pool.fetchval(
        "SELECT count(*) FROM outbox WHERE event_type LIKE '%member.registered%'"
    )
    assert outbox == 1


async def test_request_id_reuse_with_other_request_is_refused(identity, identity_app):
    request = await proven(identity, register_request())
    await identity.RegisterMember(request)
    other = register_request(phone="13912345678", request_id=request.request_id)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await identity.RegisterMember(await proven(identity, other))
    assert_error(err, grpc.StatusCode.INVALID_ARGUMENT, "REQUEST_ID_REUSED", ["request_id"])
    assert await count_members(identity_app) == 1


async def test_concurrent_calls_with_one_request_id_have_one_effect(identity, identity_app):
    request = await proven(identity, register_request())
    responses = await asyncio.gather(*(identity.RegisterMember(request) for _ in range(10)))
    assert len({r.member.member_id for r in responses}) == 1
    assert await count_members(identity_app) == 1


@pytest.mark.parametrize(
    ("overrides", "fields"),
    [
        ({"phone": "12345"}, ["phone"]),
        ({"phone": "", "email": ""}, ["phone"]),
        ({"email": "not-an-email"}, ["email"]),
        ({"password": "short"}, ["password"]),
        ({"channel": res.REGISTRATION_CHANNEL_UNSPECIFIED}, ["channel"]),
        ({"profile": res.Profile(nickname="x" * 65)}, ["profile.nickname"]),
        ({"profile": res.Profile(birthday="2999-01-01")}, ["profile.birthday"]),
        ({"profile": res.Profile(region="r" * 1000)}, ["profile.region"]),
        ({"request_id": ""}, ["request_id"]),
        ({"request_id": "r" * 200}, ["request_id"]),
        ({"phone_verification_code": ""}, ["phone_verification_code"]),
        ({"phone_verification_code": "12345x"}, ["phone_verification_code"]),
        (
            {"email": "a@example.com", "email_verification_code": "1234"},
            ["email_verification_code"],
        ),
    ],
)
async def test_bad_registration_input(identity, identity_app, overrides, fields):
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await identity.RegisterMember(register_request(**overrides))
    failure = assert_error(err, grpc.StatusCode.INVALID_ARGUMENT, fields=fields)
    assert "Traceback" not in failure.message
    assert await count_members(identity_app) == 0


async def test_store_desk_registration_needs_an_operator(identity, mint):
    request = register_request(channel=res.REGISTRATION_CHANNEL_STORE_DESK, password="")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await identity.RegisterMember(request)
    assert_error(err, grpc.StatusCode.UNAUTHENTICATED)
    member = await identity.RegisterMember(
        request, metadata=mint("desk-1", "operator", ["identity:write"])
    )
    assert member.member.member_id
