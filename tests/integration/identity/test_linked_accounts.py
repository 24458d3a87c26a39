"""Linked external accounts: the account is the one the provider asserts (the fake provider
vouches for what the test signs), one subject one member, audited link and unlink, events."""

from __future__ import annotations

import grpc
import pytest

from loyalty.identity.v1 import identity_service_pb2 as pb
from loyalty.identity.v1 import resources_pb2 as res
from services.identity.verification import NoAssertionVerifier
from tests.support.ids import uid

from .helpers import (
    LINKED,
    UNLINKED,
    assertion,
    fails,
    link_request,
    outbox_types,
    register,
    snapshot,
)


def link(member, provider="wechat", asserted="wx-openid-1", **kw):
    return link_request(member.member_id, provider, asserted, **kw)


def unlink(member, provider="wechat"):
    return pb.UnlinkAccountRequest(request_id=uid(), member_id=member.member_id, provider=provider)


async def linked_in_db(identity_app, member) -> list[tuple[str, str]]:
    rows = await identity_app.pool.fetch(
        "SELECT provider, subject FROM linked_accounts WHERE member_id = $1 ORDER BY provider",
        member.uuid,
    )
    return [tuple(r) for r in rows]


async def test_link_stores_audits_and_publishes_without_the_subject(identity, identity_app, tap):
    member = await register(identity)
    response = await identity.LinkAccount(link(member), metadata=member.auth)
    assert [(a.provider, a.subject) for a in response.member.linked_accounts] == [
        ("wechat", "wx-openid-1")
    ]
    assert await linked_in_db(identity_app, member) == [("wechat", "wx-openid-1")]
    (event,) = await tap.wait_for(LINKED, member.member_id)
    assert event.data["provider"] == "wechat"
    assert "wx-openid-1" not in repr(event.data)  # events carry no external subject
    audit = await identity_app.pool.fetchrow(
        "SELECT actor, detail FROM audit_log WHERE action = 'member.link' AND subject = $1",
        member.member_id,
    )
    assert audit["actor"] == f"member:{member.member_id}"
    assert audit["detail"] == {"provider": "wechat"}


async def test_subject_of_another_member_is_account_already_linked(identity, identity_app):
    owner, other = await register(identity), await register(identity)
    await identity.LinkAccount(link(owner), metadata=owner.auth)
    before = await snapshot(identity_app.pool)
    await fails(
        identity.LinkAccount(link(other), metadata=other.auth),
        grpc.StatusCode.ALREADY_EXISTS,
        "ACCOUNT_ALREADY_LINKED",
    )
    assert await snapshot(identity_app.pool) == before
    # The same subject at another provider is another identity.
    await identity.LinkAccount(link(other, provider="qq"), metadata=other.auth)
    assert await linked_in_db(identity_app, other) == [("qq", "wx-openid-1")]


async def test_second_account_of_a_provider_is_provider_already_linked(identity, identity_app):
    member = await register(identity)
    await identity.LinkAccount(link(member), metadata=member.auth)
    before = await snapshot(identity_app.pool)
    await fails(
        identity.LinkAccount(link(member, asserted="wx-openid-2"), metadata=member.auth),
        grpc.StatusCode.FAILED_PRECONDITION,
        "PROVIDER_ALREADY_LINKED",
    )
    assert await snapshot(identity_app.pool) == before


async def test_unlink_removes_audits_and_publishes(identity, identity_app, tap):
    member = await register(identity)
    await identity.LinkAccount(link(member), metadata=member.auth)
    await identity.LinkAccount(link(member, "qq", "qq-1"), metadata=member.auth)
    response = await identity.UnlinkAccount(unlink(member), metadata=member.auth)
    assert [a.provider for a in response.member.linked_accounts] == ["qq"]
    assert await linked_in_db(identity_app, member) == [("qq", "qq-1")]
    (event,) = await tap.wait_for(UNLINKED, member.member_id)
    assert event.data["provider"] == "wechat"
    assert (
        await identity_app.pool.fetchval(
            "SELECT count(*) FROM audit_log WHERE action = 'member.unlink' AND subject = $1",
            member.member_id,
        )
        == 1
    )
    # Once unlinked, the subject is free for another member.
    other = await register(identity)
    await identity.LinkAccount(link(other), metadata=other.auth)


async def test_unlinking_a_provider_that_is_not_linked_is_not_found(identity, identity_app):
    member = await register(identity)
    await identity.LinkAccount(link(member, "qq", "qq-1"), metadata=member.auth)
    before = await snapshot(identity_app.pool)
    await fails(
        identity.UnlinkAccount(unlink(member, "wechat"), metadata=member.auth),
        grpc.StatusCode.NOT_FOUND,
        "LINKED_ACCOUNT_NOT_FOUND",
    )
    assert await snapshot(identity_app.pool) == before
    assert UNLINKED not in await outbox_types(identity_app.pool, member.member_id)


async def test_the_last_sign_in_method_cannot_be_unlinked(identity, identity_app, mint):
    desk = mint("desk-1", "operator", ["identity:write"])
    registered = await identity.RegisterMember(
        pb.RegisterMemberRequest(
            request_id=uid(), phone="13700000003", channel=res.REGISTRATION_CHANNEL_STORE_DESK
        ),
        metadata=desk,
    )
    member_id = registered.member.member_id
    await identity.LinkAccount(link_request(member_id, "wechat", "wx-desk"), metadata=desk)
    before = await snapshot(identity_app.pool)
    await fails(
        identity.UnlinkAccount(
            pb.UnlinkAccountRequest(request_id=uid(), member_id=member_id, provider="wechat"),
            metadata=desk,
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
        "LAST_SIGN_IN_METHOD",
    )
    assert await snapshot(identity_app.pool) == before


async def test_bad_link_input_is_invalid_and_changes_nothing(identity, identity_app):
    member = await register(identity)
    before = await snapshot(identity_app.pool)
    cases = [
        (link(member, provider="myspace"), ["provider"]),
        (link(member, provider=""), ["provider"]),
        (link(member, assertion=""), ["assertion"]),
        (link(member, assertion="a" * 10_000), ["assertion"]),
        (link(member, subject="s" * 1000), ["subject"]),
    ]
    for request, fields in cases:
        await fails(
            identity.LinkAccount(request, metadata=member.auth),
            grpc.StatusCode.INVALID_ARGUMENT,
            fields=fields,
        )
    await fails(
        identity.UnlinkAccount(unlink(member, "myspace"), metadata=member.auth),
        grpc.StatusCode.INVALID_ARGUMENT,
        fields=["provider"],
    )
    assert await snapshot(identity_app.pool) == before


async def test_the_subject_is_the_one_the_provider_asserts(identity, identity_app):
    member = await register(identity)
    # Asking for another subject than the provider vouches for links nothing.
    before = await snapshot(identity_app.pool)
    await fails(
        identity.LinkAccount(
            link(member, asserted="wx-mine", subject="wx-yours"), metadata=member.auth
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
        "ASSERTION_REJECTED",
    )
    assert await snapshot(identity_app.pool) == before
    response = await identity.LinkAccount(
        link(member, asserted="wx-mine", subject="wx-mine"), metadata=member.auth
    )
    assert [(a.provider, a.subject) for a in response.member.linked_accounts] == [
        ("wechat", "wx-mine")
    ]


@pytest.mark.parametrize(
    "forged",
    [
        "wx-openid-1",  # a subject, as callers used to send
        "dev:wx-openid-1",  # the development verifier's form is no assertion here
        assertion("qq", "wx-openid-1"),  # another provider's word
        assertion("wechat", "wx-openid-1")[:-2] + "xx",  # tampered with
    ],
)
async def test_an_assertion_the_provider_did_not_make_is_rejected(identity, identity_app, forged):
    member = await register(identity)
    before = await snapshot(identity_app.pool)
    request = pb.LinkAccountRequest(
        request_id=uid(), member_id=member.member_id, provider="wechat", assertion=forged
    )
    await fails(
        identity.LinkAccount(request, metadata=member.auth),
        grpc.StatusCode.FAILED_PRECONDITION,
        "ASSERTION_REJECTED",
    )
    assert await snapshot(identity_app.pool) == before


async def test_a_provider_away_or_not_configured_links_nothing(identity, identity_app, fakes):
    member = await register(identity)
    before = await snapshot(identity_app.pool)
    fakes.assertions.down = True
    failure = await fails(
        identity.LinkAccount(link(member), metadata=member.auth),
        grpc.StatusCode.UNAVAILABLE,
        "PROVIDER_UNAVAILABLE",
    )
    assert failure.retry_seconds
    fakes.assertions.down = False
    fakes.assertions.providers = {"qq"}
    await fails(
        identity.LinkAccount(link(member), metadata=member.auth),
        grpc.StatusCode.FAILED_PRECONDITION,
        "PROVIDER_NOT_CONFIGURED",
    )
    assert await snapshot(identity_app.pool) == before


async def test_without_a_verifier_no_assertion_is_taken(identity, identity_app, monkeypatch):
    """The default when IDENTITY_ASSERTION_VERIFIER is not set."""
    monkeypatch.setattr(identity_app.deps, "assertions", NoAssertionVerifier())
    member = await register(identity)
    await fails(
        identity.LinkAccount(link(member), metadata=member.auth),
        grpc.StatusCode.FAILED_PRECONDITION,
        "PROVIDER_NOT_CONFIGURED",
    )


async def test_a_replay_gets_its_first_answer_though_the_provider_would_not_vouch_again(
    identity, fakes
):
    """Providers take a login code once: the replay of a link that succeeded is answered from
    its stored response, not refused by the provider."""
    member = await register(identity)
    request = link(member)
    first = await identity.LinkAccount(request, metadata=member.auth)
    fakes.assertions.down = True
    assert await identity.LinkAccount(request, metadata=member.auth) == first
