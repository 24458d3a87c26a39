"""DOMAIN.md "a storefront's day", across services: identity registers and freezes members over
gRPC and its events reach points through the broker; the storefront's events do the rest."""

from __future__ import annotations

import uuid

import grpc

from loyalty.commerce.v1 import events_pb2 as commerce
from loyalty.identity.v1 import identity_service_pb2 as ipb
from loyalty.identity.v1 import resources_pb2 as ires
from loyalty.subscription.v1 import events_pb2 as subscription
from tests.support import identity_fakes
from tests.support.grpc_errors import fails
from tests.support.ids import uid
from tests.support.points import (
    adjust_request,
    assert_reconciled,
    redeem_request,
    reserve_request,
)
from tests.support.waiting import wait_until


async def status(points_app, member_id: str, expected: str) -> bool:
    found = await points_app.pool.fetchval(
        "SELECT status FROM member_accounts WHERE member_id = $1", uuid.UUID(member_id)
    )
    return found == expected


async def test_a_storefront_day(
    identity, identity_app, points, points_app, mint, operator, balance, publish, consumed
):
    async def register(phone, **kw):
        request = ipb.RegisterMemberRequest(
            request_id=uid(),
            phone=phone,
            password="s3cret-pass",
            channel=ires.REGISTRATION_CHANNEL_APP,
            **kw,
        )
        # The shopper proves the phone number with the code identity sends to it.
        request = await identity_fakes.proven(identity, identity_app.deps.codes, request)
        return (await identity.RegisterMember(request)).member

    async def has(member_id, available):
        try:
            return (await balance(member_id)).available == available
        except grpc.aio.AioRpcError:
            return False  # member.registered not consumed yet

    # 1. A shopper registers with a friend's referral code: both get the sign-up bonus.
    friend = await register("13800000001")
    shopper = await register("13800000002", referral_code=friend.referral_code)
    await wait_until(lambda: has(friend.member_id, 100), 10, "the friend's sign-up bonus")
    await wait_until(lambda: has(shopper.member_id, 100), 10, "the shopper's sign-up bonus")
    me = shopper.member_id

    # 3. They buy PLUS: the 10x multiplier applies from now on.
    sub_id = uid()
    await publish(
        "loyalty.subscription.subscription.activated.v1",
        sub_id,
        subscription.SubscriptionActivated(
            subscription_id=sub_id, member_id=me, plan_id="plus-y", points_multiplier=10
        ),
    )
    await consumed("loyalty.subscription.subscription.activated.v1")

    # 4. At checkout the storefront holds 2,000 points, then publishes order.paid.
    await points.Adjust(adjust_request(me, 4_900, "promo"), metadata=operator)
    hold = (
        await points.ReserveHold(reserve_request(me, 2_000, "day-1", 100_000), metadata=mint(me))
    ).hold
    await publish(
        "commerce.order.paid.v1",
        "day-1",
        commerce.OrderPaid(
            order_id="day-1",
            member_id=me,
            currency_code="CNY",
            paid_amount_minor=98_000,
            points_hold_id=hold.hold_id,
            points_used=2_000,
            merchant_id="shop-1",
        ),
    )
    await consumed("commerce.order.paid.v1")
    b = await balance(me)
    assert (b.available, b.pending, b.held) == (3_000, 9_800, 0)

    # 5. The return window closes: the rebate becomes available; the friend gets the bonus.
    await publish(
        "commerce.order.completed.v1",
        "day-1",
        commerce.OrderCompleted(order_id="day-1", member_id=me),
    )
    await consumed("commerce.order.completed.v1")
    assert (await balance(me)).available == 12_800
    assert (await balance(friend.member_id)).available == 600

    # 6. Half of the order is refunded: half the rebate is reversed, spent points come back.
    await publish(
        "commerce.order.refunded.v1",
        "day-1",
        commerce.OrderRefunded(
            order_id="day-1",
            member_id=me,
            refund_id="rf-1",
            currency_code="CNY",
            refunded_amount_minor=49_000,
            points_to_return=1_000,
        ),
    )
    await consumed("commerce.order.refunded.v1")
    b = await balance(me)
    assert (b.available, b.pending, b.debt) == (12_800 + 1_000 - 4_900, 0, 0)

    # Identity freezes the member for risk: points refuses their spending.
    await identity.FreezeMember(
        ipb.FreezeMemberRequest(request_id=uid(), member_id=me, reason="risk"),
        metadata=mint("risk-desk", kind="operator", scopes=["identity:admin"]),
    )
    await wait_until(lambda: status(points_app, me, "frozen"), 10, "points to freeze the member")
    await fails(points.Redeem(redeem_request(me, 1), metadata=mint(me)), reason="MEMBER_FROZEN")
    await assert_reconciled(points_app.pool)
