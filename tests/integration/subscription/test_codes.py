"""Redeeming codes (兑换码): a code activates a subscription at once or stacks a term, once,
ever; unknown, used, expired and disabled codes get one answer and change nothing; failed
attempts are limited per member and per calling client (the right code refused while limited);
frozen, closed and pending members are refused before the code is read; a typo is told as such."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import grpc
import pytest
from google.protobuf import field_mask_pb2

from loyalty.identity.v1 import events_pb2 as identity
from loyalty.subscription.v1 import resources_pb2 as res
from loyalty.subscription.v1 import subscription_admin_service_pb2 as admin_pb
from loyalty.subscription.v1 import subscription_service_pb2 as pb
from loyalty.type.v1 import money_pb2
from services.kit.timestamps import to_proto
from services.subscription.domain import codes
from tests.support.grpc_errors import assert_error, fails
from tests.support.ids import uid
from tests.support.subscription_codes import (
    START,
    code_rows,
    error_metadata,
    failures,
    issued,
    plan,
    redeem,
    typo,
    unchanged,
    unknown,
)

ACTIVATED = "loyalty.subscription.subscription.activated.v1"
RENEWED = "loyalty.subscription.subscription.renewed.v1"
FROZEN = "loyalty.identity.member.frozen.v1"
CLOSED = "loyalty.identity.member.closed.v1"
DENIED = grpc.StatusCode.PERMISSION_DENIED
INVALID = grpc.StatusCode.INVALID_ARGUMENT
PRECONDITION = grpc.StatusCode.FAILED_PRECONDITION


async def test_a_code_activates_at_once_and_another_stacks_a_term(
    subscription, admin, operator, mint, checkout, clock, tap, subscription_app
):
    clock.set(START)
    await plan(admin, operator)
    batch, (one, two) = await issued(admin, operator, 2)
    # The plan's next version changes nothing for codes issued before it.
    await admin.UpdatePlan(
        admin_pb.UpdatePlanRequest(
            request_id=uid(),
            plan=res.Plan(
                plan_id="plus_yearly",
                version=2,
                price=money_pb2.Money(currency_code="CNY", amount_minor=198_00),
            ),
            update_mask=field_mask_pb2.FieldMask(paths=["price"]),
        ),
        metadata=operator,
    )
    member = str(uuid.uuid4())
    own = mint(member)
    request_id = uid()
    typed = " " + one.lower().replace("-", " ").replace("0", "o") + " "  # as members type
    got = await redeem(subscription, own, member, typed, request_id=request_id)
    sub = got.subscription
    assert sub.state == res.SUBSCRIPTION_STATE_ACTIVE and not sub.auto_renew
    assert sub.period_end.ToDatetime(dt.UTC) == START.replace(year=2027)
    term = got.term
    assert (term.source, term.code_batch_id, term.plan_version, term.value.amount_minor) == (
        res.TERM_SOURCE_REDEMPTION_CODE,
        batch.code_batch_id,
        1,
        0,
    )
    (activated,) = await tap.wait_for(ACTIVATED, sub.subscription_id)
    assert activated.data["source"] == "TERM_SOURCE_REDEMPTION_CODE"
    assert activated.data["codeBatchId"] == batch.code_batch_id
    assert activated.data["memberId"] == member
    assert activated.data.get("autoRenew", False) is False
    # The same request again is answered as before: no second term.
    again = await redeem(subscription, own, member, typed, request_id=request_id)
    assert again == got
    clock.set(START + dt.timedelta(days=30))
    stacked = await redeem(subscription, checkout, member, two)
    assert stacked.subscription.subscription_id == sub.subscription_id
    assert stacked.subscription.period_end.ToDatetime(dt.UTC) == START.replace(year=2028)
    assert [t.code_batch_id for t in stacked.subscription.terms] == [batch.code_batch_id] * 2
    shown = await subscription.GetMemberSubscription(
        pb.GetMemberSubscriptionRequest(member_id=member), metadata=own
    )
    assert shown.subscription == stacked.subscription  # with the code batch of each term
    (renewed,) = await tap.wait_for(RENEWED, sub.subscription_id)
    assert renewed.data["source"] == "TERM_SOURCE_REDEMPTION_CODE"
    assert renewed.data["codeBatchId"] == batch.code_batch_id
    assert renewed.data["periodStart"] == "2027-03-10T04:30:00Z"
    assert len(tap.envelopes(ACTIVATED, sub.subscription_id)) == 1
    rows = await code_rows(subscription_app.pool)
    assert [
        (str(r["redeemed_by"]), str(r["subscription_id"]), r["term_sequence"]) for r in rows
    ] == [
        (member, sub.subscription_id, 1),
        (member, sub.subscription_id, 2),
    ]


async def test_used_expired_unknown_and_disabled_codes_get_one_answer_and_change_nothing(
    subscription, admin, operator, mint, clock, subscription_app
):
    pool = subscription_app.pool
    clock.set(START)
    await plan(admin, operator)
    _, (used,) = await issued(admin, operator, 1)
    _, (expiring,) = await issued(admin, operator, 1, redeem_by=START + dt.timedelta(days=1))
    withdrawn, (disabled,) = await issued(admin, operator, 1, channel="bank:cmb")
    first = str(uuid.uuid4())
    await redeem(subscription, mint(first), first, used)
    clock.set(START + dt.timedelta(days=1))  # redeem_by is exclusive
    disabling = await admin.DisableCodeBatch(
        admin_pb.DisableCodeBatchRequest(
            request_id=uid(), code_batch_id=withdrawn.code_batch_id, reason="leaked on a forum"
        ),
        metadata=operator,
    )
    assert disabling.batch.state == res.CODE_BATCH_STATE_DISABLED
    assert (disabling.batch.disabled_by, disabling.batch.disable_reason) == (
        "operator:ops-alice",
        "leaked on a forum",
    )
    member = str(uuid.uuid4())
    before = await unchanged(pool)
    answers = []
    for code in (used, expiring, unknown(), disabled):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await redeem(subscription, mint(member), member, code)
        answers.append(assert_error(err, DENIED, "CODE_INVALID", []))
        assert error_metadata(err.value) == {}
    assert answers == [answers[0]] * 4  # the same code, reason and message, whatever the code
    await fails(redeem(subscription, mint(first), first, used), DENIED, "CODE_INVALID")
    assert await unchanged(pool) == before
    assert await failures(pool, member) == 4


async def test_one_code_redeemed_by_several_members_at_once_is_used_once(
    subscription, admin, operator, mint, clock, tap, subscription_app
):
    clock.set(START)
    await plan(admin, operator)
    _, (code,) = await issued(admin, operator, 1)
    members = [str(uuid.uuid4()) for _ in range(5)]
    results = await asyncio.gather(
        *(redeem(subscription, mint(m), m, code) for m in members), return_exceptions=True
    )
    won = [r for r in results if isinstance(r, pb.RedeemCodeResponse)]
    lost = [r for r in results if not isinstance(r, pb.RedeemCodeResponse)]
    assert len(won) == 1 and len(lost) == 4
    for error in lost:
        assert isinstance(error, grpc.aio.AioRpcError)
        assert_error(error, DENIED, "CODE_INVALID")
    winner = won[0].subscription
    subs = await subscription_app.pool.fetch("SELECT subscription_id, member_id FROM subscriptions")
    assert [(str(s["subscription_id"]), str(s["member_id"])) for s in subs] == [
        (winner.subscription_id, winner.member_id)
    ]
    (row,) = await code_rows(subscription_app.pool)
    assert str(row["redeemed_by"]) == winner.member_id
    await tap.wait_for(ACTIVATED, winner.subscription_id)
    activated = [e for e in tap.envelopes(ACTIVATED) if e.data["memberId"] in members]
    assert len(activated) == 1


async def test_failed_attempts_are_limited_per_member_even_for_the_right_code(
    subscription, admin, operator, mint, clock, subscription_app
):
    pool = subscription_app.pool
    clock.set(START)
    await plan(admin, operator)
    _, (right, later) = await issued(admin, operator, 2)
    member, other = str(uuid.uuid4()), str(uuid.uuid4())
    own = mint(member)
    for _ in range(5):
        await fails(redeem(subscription, own, member, unknown()), DENIED, "CODE_INVALID")
    limited = await fails(
        redeem(subscription, own, member, right), grpc.StatusCode.RESOURCE_EXHAUSTED, "RATE_LIMITED"
    )
    assert limited.retry_seconds is not None and 0 < limited.retry_seconds <= 15 * 60
    assert [r["redeemed_at"] for r in await code_rows(pool)] == [None, None]
    assert await pool.fetchval("SELECT count(*) FROM subscriptions") == 0
    assert await failures(pool, member) == 5  # a refused attempt is not counted
    # Another member of the same app (the same address) is not affected.
    await redeem(subscription, mint(other), other, right)
    # The window slides: 15 minutes after the failures the member may try again.
    clock.set(START + dt.timedelta(minutes=15, seconds=1))
    got = await redeem(subscription, own, member, later)
    assert got.subscription.state == res.SUBSCRIPTION_STATE_ACTIVE


async def test_failed_attempts_are_limited_per_calling_client(
    subscription, admin, operator, mint, checkout, clock, subscription_app
):
    clock.set(START)
    await plan(admin, operator)
    _, (right,) = await issued(admin, operator, 1)
    for _ in range(20):  # 100 failures, 5 per member: no member's own limit is reached
        member = str(uuid.uuid4())
        for _ in range(5):
            await fails(redeem(subscription, checkout, member, unknown()), DENIED, "CODE_INVALID")
    fresh = str(uuid.uuid4())
    await fails(
        redeem(subscription, checkout, fresh, right),
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "RATE_LIMITED",
    )
    assert await failures(subscription_app.pool, "client:storefront-1") == 100
    # The member's own app is another client.
    got = await redeem(subscription, mint(fresh), fresh, right)
    assert got.term.source == res.TERM_SOURCE_REDEMPTION_CODE


async def test_frozen_closed_and_pending_members_are_refused_before_the_code_is_read(
    subscription, admin, operator, mint, checkout, clock, publish, consumed, subscription_app
):
    pool = subscription_app.pool
    clock.set(START)
    await plan(admin, operator)
    _, (code,) = await issued(admin, operator, 1)
    frozen, closed, pending = (str(uuid.uuid4()) for _ in range(3))
    await publish(FROZEN, frozen, identity.MemberFrozen(member_id=frozen, reason="risk"))
    await publish(
        CLOSED, closed, identity.MemberClosed(member_id=closed, closed_time=to_proto(START))
    )
    await consumed(FROZEN)
    await consumed(CLOSED)
    ordered = await subscription.CreateSubscriptionOrder(
        pb.CreateSubscriptionOrderRequest(
            request_id=uid(), member_id=pending, plan_id="plus_yearly"
        ),
        metadata=checkout,
    )
    before = await unchanged(pool)
    await fails(redeem(subscription, mint(frozen), frozen, code), PRECONDITION, "MEMBER_FROZEN")
    await fails(redeem(subscription, checkout, closed, code), PRECONDITION, "MEMBER_CLOSED")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await redeem(subscription, mint(pending), pending, code)
    assert_error(err, PRECONDITION, "SUBSCRIPTION_PENDING_PAYMENT")
    assert error_metadata(err.value) == {"order_id": ordered.order.order_id}
    assert await unchanged(pool) == before
    assert await pool.fetchval("SELECT count(*) FROM rate_limits") == 0  # not attempts


async def test_a_typo_is_told_as_such_and_is_not_an_attempt(
    subscription, admin, operator, mint, clock, subscription_app
):
    pool = subscription_app.pool
    clock.set(START)
    await plan(admin, operator)
    _, (code,) = await issued(admin, operator, 1)
    member = str(uuid.uuid4())
    own = mint(member)
    before = await unchanged(pool)
    for bad in (typo(code), code[:-1], "", "A" * 65, code + "\x00", "７ＫＱ２-M9XD"):
        await fails(redeem(subscription, own, member, bad), INVALID, "CODE_FORMAT", ["code"])
    assert await unchanged(pool) == before
    assert await pool.fetchval("SELECT count(*) FROM rate_limits") == 0
    # Full-width characters are read as what they look like.
    wide = code.translate({ord(c): ord(c) + 0xFEE0 for c in codes.ALPHABET})
    got = await redeem(subscription, own, member, wide)
    assert got.term.source == res.TERM_SOURCE_REDEMPTION_CODE


async def test_a_code_past_the_stacking_limit_stays_unredeemed(
    subscription, admin, operator, mint, clock, subscription_app
):
    clock.set(START)
    await plan(admin, operator)
    _, issued_codes = await issued(admin, operator, 4)
    member = str(uuid.uuid4())
    for code in issued_codes[:3]:  # three years ahead: within the limit (3 × 366 days)
        got = await redeem(subscription, mint(member), member, code)
    assert got.subscription.period_end.ToDatetime(dt.UTC) == START.replace(year=2029)
    await fails(
        redeem(subscription, mint(member), member, issued_codes[3]),
        PRECONDITION,
        "STACKING_LIMIT_REACHED",
    )
    rows = await code_rows(subscription_app.pool)
    assert [r["redeemed_at"] is not None for r in rows] == [True, True, True, False]
    assert await failures(subscription_app.pool, member) == 0  # the code was right
