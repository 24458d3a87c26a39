"""Registering from the mini program (小程序) needs the provider's assertion: the account it
vouches for is linked to the new member, atomically; a self-service registration may bring one
too. The fake provider vouches for what the test signs (conftest.py)."""

from __future__ import annotations

import grpc
import pytest

from loyalty.identity.v1 import identity_service_pb2 as pb
from loyalty.identity.v1 import resources_pb2 as res
from tests.support.ids import uid

from .helpers import (
    LINKED,
    REGISTERED,
    assertion,
    fails,
    link_request,
    next_phone,
    outbox_types,
    proven,
    register,
    snapshot,
)

MINI = res.REGISTRATION_CHANNEL_MINI_PROGRAM


def mini(provider="wechat", provider_assertion=None, **kw) -> pb.RegisterMemberRequest:
    kw.setdefault("phone", next_phone())
    if provider_assertion is None:
        provider_assertion = assertion(provider, "wx-openid-9")
    return pb.RegisterMemberRequest(
        request_id=uid(),
        channel=MINI,
        provider=provider,
        provider_assertion=provider_assertion,
        **kw,
    )


async def test_the_mini_program_links_the_account_the_provider_vouches_for(
    identity, identity_app, tap
):
    member = (await identity.RegisterMember(await proven(identity, mini()))).member
    assert [(a.provider, a.subject) for a in member.linked_accounts] == [("wechat", "wx-openid-9")]
    assert member.phone  # its phone number, proven with a code as on every self-service channel
    assert await outbox_types(identity_app.pool, member.member_id) == [REGISTERED, LINKED]
    (event,) = await tap.wait_for(LINKED, member.member_id)
    assert "wx-openid-9" not in repr(event.data)
    actions = await identity_app.pool.fetch(
        "SELECT action FROM audit_log WHERE subject = $1 ORDER BY id", member.member_id
    )
    assert [a["action"] for a in actions] == ["member.register", "member.link"]


@pytest.mark.parametrize(
    ("overrides", "fields"),
    [
        ({"provider_assertion": ""}, ["provider_assertion"]),
        ({"provider": ""}, ["provider"]),
        ({"provider": "myspace"}, ["provider"]),
        ({"provider_assertion": "a" * 10_000}, ["provider_assertion"]),
    ],
)
async def test_the_mini_program_without_an_assertion_is_invalid(
    identity, identity_app, overrides, fields
):
    before = await snapshot(identity_app.pool)
    request = mini(phone_verification_code="000000", password="", **overrides)
    await fails(identity.RegisterMember(request), grpc.StatusCode.INVALID_ARGUMENT, fields=fields)
    assert await snapshot(identity_app.pool) == before


async def test_an_assertion_the_provider_does_not_vouch_for_registers_nobody(
    identity, identity_app
):
    request = await proven(identity, mini(provider_assertion=assertion("qq", "wx-openid-9")))
    before = await snapshot(identity_app.pool)
    await fails(
        identity.RegisterMember(request), grpc.StatusCode.FAILED_PRECONDITION, "ASSERTION_REJECTED"
    )
    assert await snapshot(identity_app.pool) == before
    # The refusal did not use the phone's code up.
    request.provider_assertion = assertion("wechat", "wx-openid-9")
    request.request_id = uid()
    assert (await identity.RegisterMember(request)).member.linked_accounts


async def test_an_account_linked_already_registers_nobody(identity, identity_app):
    owner = await register(identity)
    await identity.LinkAccount(
        link_request(owner.member_id, "wechat", "wx-openid-9"), metadata=owner.auth
    )
    request = await proven(identity, mini())
    before = await snapshot(identity_app.pool)
    await fails(
        identity.RegisterMember(request), grpc.StatusCode.ALREADY_EXISTS, "ACCOUNT_ALREADY_LINKED"
    )
    assert await snapshot(identity_app.pool) == before


async def test_the_app_may_bring_a_provider_account_too(identity):
    request = pb.RegisterMemberRequest(
        request_id=uid(),
        phone=next_phone(),
        password="s3cret-pass",
        channel=res.REGISTRATION_CHANNEL_APP,
        provider="apple",
        provider_assertion=assertion("apple", "001234.abcd"),
    )
    member = (await identity.RegisterMember(await proven(identity, request))).member
    assert [(a.provider, a.subject) for a in member.linked_accounts] == [("apple", "001234.abcd")]


async def test_a_provider_away_registers_nobody_until_it_answers(identity, identity_app, fakes):
    request = await proven(identity, mini())
    fakes.assertions.down = True
    await fails(
        identity.RegisterMember(request), grpc.StatusCode.UNAVAILABLE, "PROVIDER_UNAVAILABLE"
    )
    fakes.assertions.down = False
    assert (await identity.RegisterMember(request)).member.linked_accounts  # the same request
