"""CloseMember by the member itself needs it to prove itself again in the request (a token
alone may be stolen, or a device left signed in): its password, or, for a member without one,
a code sent to its phone number (else its e-mail address). Operators with identity:admin need
no proof."""

from __future__ import annotations

import grpc
import pytest

from loyalty.identity.v1 import identity_service_pb2 as pb
from loyalty.identity.v1 import resources_pb2 as res
from tests.support.ids import uid

from .helpers import (
    CLOSE,
    PASSWORD,
    SIGN_IN,
    bearer,
    code_for,
    fails,
    next_phone,
    snapshot,
)
from .helpers import register as register_member

CLOSED = res.MEMBER_STATUS_CLOSED


def close(member_id: str, **kw) -> pb.CloseMemberRequest:
    return pb.CloseMemberRequest(request_id=uid(), member_id=member_id, **kw)


@pytest.fixture
def several_a_minute(identity_app, monkeypatch):
    monkeypatch.setattr(identity_app.settings, "codes_per_address_minute", 0)


async def passwordless(identity, mint, **kw):
    """A member registered at a store desk, without a password, signed in with a code."""
    phone = kw.pop("phone", next_phone())
    request = pb.RegisterMemberRequest(
        request_id=uid(), phone=phone, channel=res.REGISTRATION_CHANNEL_STORE_DESK, **kw
    )
    desk = mint("desk-1", "operator", ["identity:write"])
    member = (await identity.RegisterMember(request, metadata=desk)).member
    address = phone or kw["email"]
    code = await code_for(identity, address, SIGN_IN)
    tokens = (
        await identity.Login(pb.LoginRequest(identifier=address, verification_code=code))
    ).tokens
    return member, bearer(tokens.access_token), address


async def test_a_member_closing_itself_without_proof_is_refused(identity, identity_app):
    member = await register_member(identity)
    before = await snapshot(identity_app.pool)
    await fails(
        identity.CloseMember(close(member.member_id), metadata=member.auth),
        grpc.StatusCode.INVALID_ARGUMENT,
        "REAUTHENTICATION_REQUIRED",
        ["password"],
    )
    assert await snapshot(identity_app.pool) == before


async def test_a_wrong_password_closes_nothing_and_tries_are_limited(
    identity, identity_app, several_a_minute
):
    member = await register_member(identity)
    for _ in range(identity_app.settings.reauth_failures_per_member_hour):
        await fails(
            identity.CloseMember(
                close(member.member_id, password="wrong-pass1"), metadata=member.auth
            ),
            grpc.StatusCode.PERMISSION_DENIED,
            "REAUTHENTICATION_FAILED",
        )
    # A code is no proof for a member with a password (the thief may hold the phone too).
    code = await code_for(identity, member.phone, CLOSE)
    before = await snapshot(identity_app.pool)
    await fails(
        identity.CloseMember(close(member.member_id, verification_code=code), metadata=member.auth),
        grpc.StatusCode.PERMISSION_DENIED,
        "REAUTHENTICATION_FAILED",
    )
    assert await snapshot(identity_app.pool) == before
    failure = await fails(
        identity.CloseMember(close(member.member_id, password=PASSWORD), metadata=member.auth),
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "RATE_LIMITED",
    )
    assert failure.retry_seconds
    # Limited per member: Login is another budget, and still works.
    await identity.Login(pb.LoginRequest(identifier=member.phone, password=PASSWORD))


async def test_the_right_password_closes_the_member(identity):
    member = await register_member(identity)
    request = close(member.member_id, password=PASSWORD, reason="moving")
    closed = await identity.CloseMember(request, metadata=member.auth)
    assert closed.member.status == CLOSED
    # A replay answers as the first call did (the password is gone with the member by now).
    assert await identity.CloseMember(request, metadata=member.auth) == closed


async def test_a_member_without_a_password_proves_itself_with_a_code(
    identity, identity_app, mint, several_a_minute
):
    member, auth, phone = await passwordless(identity, mint)
    # The wrong code, a code for another purpose, a password: none is proof.
    sign_in = await code_for(identity, phone, SIGN_IN)
    before = await snapshot(identity_app.pool)
    for proof in (
        {"verification_code": "000000" if sign_in != "000000" else "000001"},
        {"verification_code": sign_in},
        {"password": PASSWORD},
    ):
        await fails(
            identity.CloseMember(close(member.member_id, **proof), metadata=auth),
            grpc.StatusCode.PERMISSION_DENIED,
            "REAUTHENTICATION_FAILED",
        )
    assert await snapshot(identity_app.pool) == before
    code = await code_for(identity, phone, CLOSE)
    request = close(member.member_id, verification_code=code)
    closed = await identity.CloseMember(request, metadata=auth)
    assert closed.member.status == CLOSED
    assert await identity.CloseMember(request, metadata=auth) == closed  # a replay


async def test_without_a_phone_the_code_goes_to_the_email_address(identity, mint, several_a_minute):
    member, auth, email = await passwordless(identity, mint, phone="", email="li.lei@example.com")
    code = await code_for(identity, email, CLOSE)
    closed = await identity.CloseMember(
        close(member.member_id, verification_code=code), metadata=auth
    )
    assert closed.member.status == CLOSED


async def test_an_operator_closes_without_proof(identity, mint):
    member = await register_member(identity)
    closed = await identity.CloseMember(
        close(member.member_id), metadata=mint("risk-desk", "operator", ["identity:admin"])
    )
    assert closed.member.status == CLOSED


@pytest.mark.parametrize(
    ("proof", "fields"),
    [
        ({"password": "p" * 200}, ["password"]),
        ({"verification_code": "12"}, ["verification_code"]),
    ],
)
async def test_bad_proofs_are_invalid(identity, identity_app, proof, fields):
    member = await register_member(identity)
    before = await snapshot(identity_app.pool)
    await fails(
        identity.CloseMember(close(member.member_id, **proof), metadata=member.auth),
        grpc.StatusCode.INVALID_ARGUMENT,
        fields=fields,
    )
    assert await snapshot(identity_app.pool) == before
