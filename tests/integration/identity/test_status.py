"""Member status: freeze, unfreeze, close (erasure), and what a closed member can no longer do."""

from __future__ import annotations

import datetime as dt

import grpc
import pytest
from google.protobuf import field_mask_pb2

from loyalty.identity.v1 import identity_service_pb2 as pb
from loyalty.identity.v1 import resources_pb2 as res
from tests.support import idnum
from tests.support.grpc_errors import failure_of
from tests.support.ids import uid
from tests.support.waiting import wait_until

from .helpers import (
    CLOSED,
    FROZEN,
    PASSWORD,
    UNFROZEN,
    code_for,
    fails,
    link_request,
    member_row,
    outbox_types,
    register,
    snapshot,
)

ADMIN = ("risk-desk", "operator", ["identity:admin"])


def freeze(member, reason="chargeback-risk", request_id=None):
    return pb.FreezeMemberRequest(
        request_id=request_id or uid(), member_id=member.member_id, reason=reason
    )


def unfreeze(member, reason="cleared"):
    return pb.UnfreezeMemberRequest(request_id=uid(), member_id=member.member_id, reason=reason)


async def test_freeze_sets_status_audits_and_publishes(identity, identity_app, tap, mint):
    member = await register(identity)
    response = await identity.FreezeMember(freeze(member), metadata=mint(*ADMIN))
    assert response.member.status == res.MEMBER_STATUS_FROZEN
    assert (await member_row(identity_app.pool, member.member_id))["status"] == "frozen"
    (event,) = await tap.wait_for(FROZEN, member.member_id)
    assert event.data["reason"] == "chargeback-risk"
    audit = await identity_app.pool.fetchrow(
        "SELECT actor, detail FROM audit_log WHERE action = 'member.frozen'"
    )
    assert audit["actor"] == "operator:risk-desk"
    assert audit["detail"] == {"reason": "chargeback-risk"}


async def test_freezing_a_frozen_member_changes_and_publishes_nothing(
    identity, identity_app, tap, mint
):
    member = await register(identity)
    await identity.FreezeMember(freeze(member), metadata=mint(*ADMIN))
    await tap.wait_for(FROZEN, member.member_id)
    row = await member_row(identity_app.pool, member.member_id)
    again = await identity.FreezeMember(freeze(member, "second-look"), metadata=mint(*ADMIN))
    assert again.member.status == res.MEMBER_STATUS_FROZEN
    assert await member_row(identity_app.pool, member.member_id) == row  # not even updated_at
    assert (await outbox_types(identity_app.pool, member.member_id)).count(FROZEN) == 1
    assert (
        await identity_app.pool.fetchval(
            "SELECT count(*) FROM audit_log WHERE action = 'member.frozen'"
        )
        == 1
    )
    # The bus agrees: the unfreeze that follows arrives, and still one member.frozen.
    await identity.UnfreezeMember(unfreeze(member), metadata=mint(*ADMIN))
    await tap.wait_for(UNFROZEN, member.member_id)
    assert len(tap.envelopes(FROZEN, member.member_id)) == 1


async def test_unfreeze_returns_to_active_and_publishes(identity, identity_app, tap, mint):
    member = await register(identity)
    await identity.FreezeMember(freeze(member), metadata=mint(*ADMIN))
    response = await identity.UnfreezeMember(unfreeze(member), metadata=mint(*ADMIN))
    assert response.member.status == res.MEMBER_STATUS_ACTIVE
    assert (await member_row(identity_app.pool, member.member_id))["status"] == "active"
    (event,) = await tap.wait_for(UNFROZEN, member.member_id)
    assert event.data["reason"] == "cleared"
    # Unfreezing an active member changes nothing.
    await identity.UnfreezeMember(unfreeze(member), metadata=mint(*ADMIN))
    assert (await outbox_types(identity_app.pool, member.member_id)).count(UNFROZEN) == 1


async def test_freeze_and_unfreeze_need_a_reason_of_sane_length(identity, identity_app, mint):
    member = await register(identity)
    before = await snapshot(identity_app.pool)
    for reason in ("", "  ", "r" * 1000):
        await fails(
            identity.FreezeMember(freeze(member, reason), metadata=mint(*ADMIN)),
            grpc.StatusCode.INVALID_ARGUMENT,
            fields=["reason"],
        )
    assert await snapshot(identity_app.pool) == before
    await identity.FreezeMember(freeze(member), metadata=mint(*ADMIN))
    before = await snapshot(identity_app.pool)
    for reason in ("", "r" * 1000):
        await fails(
            identity.UnfreezeMember(unfreeze(member, reason), metadata=mint(*ADMIN)),
            grpc.StatusCode.INVALID_ARGUMENT,
            fields=["reason"],
        )
    assert await snapshot(identity_app.pool) == before


async def test_member_closes_itself_and_its_personal_data_is_erased(identity, identity_app, tap):
    member = await register(
        identity, email="li.lei@example.com", profile=res.Profile(nickname="lei", region="CN-BJ")
    )
    await identity.VerifyRealName(
        pb.VerifyRealNameRequest(
            request_id=uid(),
            member_id=member.member_id,
            legal_name="张三丰",
            id_number=idnum.make(11),
        ),
        metadata=member.auth,
    )
    await identity.LinkAccount(
        link_request(member.member_id, "wechat", "wx-1"),
        metadata=member.auth,
    )
    response = await identity.CloseMember(
        pb.CloseMemberRequest(
            request_id=uid(), member_id=member.member_id, reason="moving", password=PASSWORD
        ),
        metadata=member.auth,
    )
    closed = response.member
    assert closed.status == res.MEMBER_STATUS_CLOSED
    assert (closed.phone, closed.email, closed.masked_id_number, closed.legal_name_masked) == (
        "",
        "",
        "",
        "",
    )
    assert closed.profile == res.Profile() and not closed.linked_accounts

    row = await member_row(identity_app.pool, member.member_id)
    assert row["status"] == "closed" and row["closed_at"] is not None
    for column in (
        "phone",
        "email",
        "password_hash",
        "birthday",
        "legal_name_enc",
        "id_number_enc",
        "id_number_hash",
        "id_number_masked",
    ):
        assert row[column] is None, column
    assert (row["nickname"], row["gender"], row["region"]) == ("", "", "")
    assert not await identity_app.pool.fetchval(
        "SELECT count(*) FROM linked_accounts WHERE member_id = $1", member.uuid
    )
    assert await identity_app.pool.fetchval(
        "SELECT bool_and(revoked_at IS NOT NULL) FROM refresh_tokens WHERE member_id = $1",
        member.uuid,
    )
    (event,) = await tap.wait_for(CLOSED, member.member_id)
    assert event.data["memberId"] == member.member_id

    await fails(
        identity.Login(pb.LoginRequest(identifier=member.phone, password=PASSWORD)),
        grpc.StatusCode.UNAUTHENTICATED,
        "INVALID_CREDENTIALS",
    )
    await fails(
        identity.Login(pb.LoginRequest(identifier="li.lei@example.com", password=PASSWORD)),
        grpc.StatusCode.UNAUTHENTICATED,
        "INVALID_CREDENTIALS",
    )
    await fails(
        identity.RefreshToken(pb.RefreshTokenRequest(refresh_token=member.tokens.refresh_token)),
        grpc.StatusCode.UNAUTHENTICATED,
        "REFRESH_TOKEN_INVALID",
    )


async def test_closed_members_contact_and_id_number_are_free_again(identity, identity_app, mint):
    member = await register(identity)
    number = idnum.make(12)
    await identity.VerifyRealName(
        pb.VerifyRealNameRequest(
            request_id=uid(), member_id=member.member_id, legal_name="张三", id_number=number
        ),
        metadata=member.auth,
    )
    await identity.CloseMember(
        pb.CloseMemberRequest(request_id=uid(), member_id=member.member_id),
        metadata=mint(*ADMIN),
    )
    # A new code for the phone number, a minute on (one a minute may be sent to an address).
    identity_app.deps.clock.set(dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1))
    code = await code_for(identity, member.phone)
    identity_app.deps.clock.set(None)
    again = await register(identity, phone=member.phone, phone_verification_code=code)
    assert again.member_id != member.member_id
    await identity.VerifyRealName(
        pb.VerifyRealNameRequest(
            request_id=uid(), member_id=again.member_id, legal_name="张三", id_number=number
        ),
        metadata=again.auth,
    )


async def test_closing_twice_changes_nothing(identity, identity_app, mint):
    member = await register(identity)
    close = pb.CloseMemberRequest(request_id=uid(), member_id=member.member_id, password=PASSWORD)
    await identity.CloseMember(close, metadata=member.auth)
    before = await snapshot(identity_app.pool)
    response = await identity.CloseMember(
        pb.CloseMemberRequest(request_id=uid(), member_id=member.member_id), metadata=mint(*ADMIN)
    )
    assert response.member.status == res.MEMBER_STATUS_CLOSED
    after = await snapshot(identity_app.pool)
    assert {k: v for k, v in after.items() if k != "idempotency"} == {
        k: v for k, v in before.items() if k != "idempotency"
    }
    assert (await outbox_types(identity_app.pool, member.member_id)).count(CLOSED) == 1


@pytest.mark.parametrize(
    "rpc",
    [
        "UpdateProfile",
        "VerifyRealName",
        "LinkAccount",
        "UnlinkAccount",
        "FreezeMember",
        "UnfreezeMember",
        "AddMemberTags",
        "RemoveMemberTags",
    ],
)
async def test_operations_on_a_closed_member_are_member_closed(identity, identity_app, mint, rpc):
    member = await register(identity)
    await identity.CloseMember(
        pb.CloseMemberRequest(request_id=uid(), member_id=member.member_id, password=PASSWORD),
        metadata=member.auth,
    )
    md = mint("ops-1", "operator", ["identity:admin", "identity:write"])
    m = member.member_id
    requests = {
        "UpdateProfile": pb.UpdateProfileRequest(
            request_id=uid(),
            member_id=m,
            profile=res.Profile(nickname="back"),
            update_mask=field_mask_pb2.FieldMask(paths=["nickname"]),
        ),
        "VerifyRealName": pb.VerifyRealNameRequest(
            request_id=uid(), member_id=m, legal_name="张三", id_number=idnum.make(13)
        ),
        "LinkAccount": link_request(m, "wechat", "wx-late"),
        "UnlinkAccount": pb.UnlinkAccountRequest(request_id=uid(), member_id=m, provider="wechat"),
        "FreezeMember": pb.FreezeMemberRequest(request_id=uid(), member_id=m, reason="risk"),
        "UnfreezeMember": pb.UnfreezeMemberRequest(request_id=uid(), member_id=m, reason="ok"),
        "AddMemberTags": pb.AddMemberTagsRequest(request_id=uid(), member_id=m, tags=["vip"]),
        "RemoveMemberTags": pb.RemoveMemberTagsRequest(request_id=uid(), member_id=m, tags=["vip"]),
    }
    before = await snapshot(identity_app.pool)
    await fails(
        getattr(identity, rpc)(requests[rpc], metadata=md),
        grpc.StatusCode.FAILED_PRECONDITION,
        "MEMBER_CLOSED",
    )
    if rpc in ("UpdateProfile", "LinkAccount"):
        # The member's own token: refused as the closed member's until the revocation arrives
        # (within moments), then as a revoked token; never accepted.
        async def refused_as_revoked() -> bool:
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await getattr(identity, rpc)(requests[rpc], metadata=member.auth)
            reason = failure_of(refused).reason
            assert reason in ("MEMBER_CLOSED", "TOKEN_REVOKED")
            return reason == "TOKEN_REVOKED"

        await wait_until(refused_as_revoked, 5, "the closed member's token revoked")
    assert await snapshot(identity_app.pool) == before


async def test_closing_erases_the_stored_responses_that_carry_the_members_data(
    identity, identity_app, mint
):
    member = await register(identity)
    operator = mint("support-desk", kind="operator", scopes=["identity:write"])
    update = pb.UpdateProfileRequest(
        request_id=uid(),
        member_id=member.member_id,
        profile=res.Profile(nickname="lei", region="Beijing"),
        update_mask=field_mask_pb2.FieldMask(paths=["nickname", "region"]),
    )
    first = await identity.UpdateProfile(update, metadata=operator)
    assert first.member.profile.nickname == "lei"
    assert await identity.UpdateProfile(update, metadata=operator) == first  # a replay
    await identity.CloseMember(
        pb.CloseMemberRequest(request_id=uid(), member_id=member.member_id, password=PASSWORD),
        metadata=member.auth,
    )
    # The same request again is no replay of the profile before closing: it runs, and is refused.
    refused = await fails(
        identity.UpdateProfile(update, metadata=operator),
        grpc.StatusCode.FAILED_PRECONDITION,
        "MEMBER_CLOSED",
    )
    assert "lei" not in refused.message
    stored = await identity_app.pool.fetch(
        "SELECT response FROM idempotency WHERE subject = $1", member.member_id
    )
    assert all(b"lei" not in (row["response"] or b"") for row in stored)
