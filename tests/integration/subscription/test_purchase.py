"""Buying: a pending order and its charge request; the payment (event or call) activates the
subscription once, however often it is delivered; a payment nobody can apply is parked with its
reason; buying while active stacks a term; a failed first payment ends the order; a frozen
member cannot buy."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import grpc

from loyalty.commerce.v1 import events_pb2 as commerce
from loyalty.identity.v1 import events_pb2 as identity
from loyalty.subscription.v1 import resources_pb2 as res
from loyalty.subscription.v1 import subscription_admin_service_pb2 as admin_pb
from loyalty.subscription.v1 import subscription_service_pb2 as pb
from loyalty.type.v1 import money_pb2
from tests.support.grpc_errors import fails
from tests.support.ids import uid
from tests.support.snapshots import snapshot

from .test_plans import yearly

SUCCEEDED = "commerce.payment.succeeded.v1"
FAILED = "commerce.payment.failed.v1"
FROZEN = "loyalty.identity.member.frozen.v1"
ACTIVATED = "loyalty.subscription.subscription.activated.v1"
RENEWED = "loyalty.subscription.subscription.renewed.v1"
CHARGE = "loyalty.subscription.charge.requested.v1"
START = dt.datetime(2026, 3, 10, 4, 30, tzinfo=dt.UTC)  # 12:30 in Asia/Shanghai


async def plan(admin, operator) -> None:
    await admin.CreatePlan(
        admin_pb.CreatePlanRequest(request_id=uid(), plan=yearly()), metadata=operator
    )


async def order(subscription, caller, member: str, **fields) -> pb.CreateSubscriptionOrderResponse:
    return await subscription.CreateSubscriptionOrder(
        pb.CreateSubscriptionOrderRequest(
            request_id=uid(), member_id=member, plan_id="plus_yearly", **fields
        ),
        metadata=caller,
    )


def paid(member: str, order_id: str, amount: int = 148_00, payment_id: str = "pay-1"):
    return commerce.PaymentSucceeded(
        payment_id=payment_id,
        member_id=member,
        purpose="subscription",
        reference_id=order_id,
        amount=money_pb2.Money(currency_code="CNY", amount_minor=amount),
    )


async def test_the_same_payment_twice_activates_once_and_tells_points(
    subscription, admin, operator, mint, clock, publish, consumed, tap
):
    clock.set(START)
    await plan(admin, operator)
    member = str(uuid.uuid4())
    own = mint(member)
    made = await order(subscription, own, member)
    assert made.order.state == res.ORDER_STATE_PENDING_PAYMENT
    assert made.subscription.state == res.SUBSCRIPTION_STATE_PENDING_PAYMENT
    (charge,) = await tap.wait_for(CHARGE, made.order.order_id)
    assert charge.data["amount"] == {"currencyCode": "CNY", "amountMinor": "14800"}
    assert charge.data["subscriptionId"] == made.subscription.subscription_id
    await publish(SUCCEEDED, made.order.order_id, paid(member, made.order.order_id))
    await publish(SUCCEEDED, made.order.order_id, paid(member, made.order.order_id))
    await consumed(SUCCEEDED, 2)
    got = await subscription.GetMemberSubscription(
        pb.GetMemberSubscriptionRequest(member_id=member), metadata=own
    )
    sub = got.subscription
    assert sub.state == res.SUBSCRIPTION_STATE_ACTIVE and sub.auto_renew
    assert [t.source for t in sub.terms] == [res.TERM_SOURCE_PURCHASE]
    assert sub.period_end.ToDatetime(dt.UTC) == START.replace(year=2027)
    (activated,) = await tap.wait_for(ACTIVATED, sub.subscription_id)
    assert activated.data["pointsMultiplier"] == 10
    assert activated.data["memberId"] == member
    assert activated.data["periodEnd"] == "2027-03-10T04:30:00Z"
    assert activated.data["orderId"] == made.order.order_id
    assert len(tap.envelopes(ACTIVATED, sub.subscription_id)) == 1
    # The storefront confirming the same payment again changes nothing either.
    again = await subscription.ConfirmPayment(
        pb.ConfirmPaymentRequest(
            request_id=uid(),
            order_id=made.order.order_id,
            payment_id="pay-1",
            amount=money_pb2.Money(currency_code="CNY", amount_minor=148_00),
        ),
        metadata=mint("storefront-1", kind="service", scopes=["subscription:checkout"]),
    )
    assert again.order.state == res.ORDER_STATE_PAID
    assert len(again.subscription.terms) == 1


async def test_a_payment_nobody_can_apply_is_parked_with_its_reason(
    subscription, admin, operator, mint, publish, consumed, subscription_app
):
    await plan(admin, operator)
    member = str(uuid.uuid4())
    unknown = str(uuid.uuid4())
    await publish(SUCCEEDED, unknown, paid(member, unknown))
    made = await order(subscription, mint(member), member)
    await publish(SUCCEEDED, made.order.order_id, paid(member, made.order.order_id, amount=1))
    await consumed(SUCCEEDED, 2)
    parked = await subscription_app.pool.fetch(
        "SELECT order_id, reason FROM parked_payments ORDER BY park_time, reason"
    )
    assert sorted((r["order_id"], r["reason"]) for r in parked) == sorted(
        [(unknown, "ORDER_NOT_FOUND"), (made.order.order_id, "AMOUNT_MISMATCH")]
    )
    state = await subscription_app.pool.fetchval(
        "SELECT state FROM orders WHERE order_id = $1", uuid.UUID(made.order.order_id)
    )
    assert state == "pending_payment"


async def test_buying_while_active_stacks_a_term(
    subscription, admin, operator, checkout, clock, tap
):
    clock.set(START)
    await plan(admin, operator)
    member = str(uuid.uuid4())

    async def pay(order_id: str, payment_id: str):
        return await subscription.ConfirmPayment(
            pb.ConfirmPaymentRequest(
                request_id=uid(),
                order_id=order_id,
                payment_id=payment_id,
                amount=money_pb2.Money(currency_code="CNY", amount_minor=148_00),
            ),
            metadata=checkout,
        )

    first = await order(
        subscription, checkout, member, collection=res.PAYMENT_COLLECTION_STOREFRONT
    )
    await pay(first.order.order_id, "pay-a")
    await fails(
        pay(first.order.order_id, "pay-other"),
        grpc.StatusCode.FAILED_PRECONDITION,
        "ORDER_NOT_PENDING",
    )
    clock.advance(days=30)
    second = await order(subscription, checkout, member)
    assert second.subscription.subscription_id == first.subscription.subscription_id
    assert second.subscription.state == res.SUBSCRIPTION_STATE_ACTIVE
    stacked = await pay(second.order.order_id, "pay-b")
    sub = stacked.subscription
    assert [t.source for t in sub.terms] == [res.TERM_SOURCE_PURCHASE] * 2
    assert sub.period_end.ToDatetime(dt.UTC) == START.replace(year=2028)
    (renewed,) = await tap.wait_for(RENEWED, sub.subscription_id)
    assert renewed.data["periodStart"] == "2027-03-10T04:30:00Z"
    assert renewed.data["periodEnd"] == "2028-03-10T04:30:00Z"
    assert renewed.data["source"] == "TERM_SOURCE_PURCHASE"
    assert renewed.data["pointsMultiplier"] == 10


async def test_a_failed_first_payment_ends_the_order_and_the_member_may_order_again(
    subscription, admin, operator, mint, publish, consumed
):
    await plan(admin, operator)
    member = str(uuid.uuid4())
    own = mint(member)
    made = await order(subscription, own, member)
    await fails(
        order(subscription, own, member),
        grpc.StatusCode.FAILED_PRECONDITION,
        "SUBSCRIPTION_PENDING_PAYMENT",
    )
    failed = commerce.PaymentFailed(
        payment_id="pay-1",
        member_id=member,
        purpose="subscription",
        reference_id=made.order.order_id,
        amount=money_pb2.Money(currency_code="CNY", amount_minor=148_00),
        failure_reason="card_declined",
    )
    await publish(FAILED, made.order.order_id, failed)
    await consumed(FAILED)
    ended = await subscription.GetSubscription(
        pb.GetSubscriptionRequest(subscription_id=made.subscription.subscription_id),
        metadata=own,
    )
    assert ended.subscription.state == res.SUBSCRIPTION_STATE_CANCELLED
    assert ended.subscription.end_cause == res.END_CAUSE_PAYMENT_FAILED
    again = await order(subscription, own, member)
    assert again.subscription.subscription_id != made.subscription.subscription_id


async def test_a_frozen_member_cannot_buy_and_nothing_changes(
    subscription, admin, operator, mint, publish, consumed, subscription_app
):
    await plan(admin, operator)
    member = str(uuid.uuid4())
    await publish(FROZEN, member, identity.MemberFrozen(member_id=member, reason="risk"))
    await consumed(FROZEN)
    before = await snapshot(
        subscription_app.pool, "subscriptions", "orders", outbox="SELECT id FROM outbox"
    )
    await fails(
        order(subscription, mint(member), member),
        grpc.StatusCode.FAILED_PRECONDITION,
        "MEMBER_FROZEN",
    )
    after = await snapshot(
        subscription_app.pool, "subscriptions", "orders", outbox="SELECT id FROM outbox"
    )
    assert after == before


async def test_members_see_only_their_own(subscription, admin, operator, mint, checkout):
    await plan(admin, operator)
    member, other = str(uuid.uuid4()), str(uuid.uuid4())
    made = await order(subscription, checkout, member)
    await fails(
        order(subscription, mint(other), member),
        grpc.StatusCode.PERMISSION_DENIED,
        "NOT_OWNER",
    )
    await fails(
        subscription.GetSubscription(
            pb.GetSubscriptionRequest(subscription_id=made.subscription.subscription_id),
            metadata=mint(other),
        ),
        grpc.StatusCode.NOT_FOUND,
        "SUBSCRIPTION_NOT_FOUND",
    )


async def test_a_payment_after_the_order_lapsed_is_refused(
    subscription, admin, operator, checkout, clock
):
    clock.set(START)
    await plan(admin, operator)
    member = str(uuid.uuid4())
    made = await order(subscription, checkout, member)
    clock.advance(hours=24)
    await fails(
        subscription.ConfirmPayment(
            pb.ConfirmPaymentRequest(
                request_id=uid(),
                order_id=made.order.order_id,
                payment_id="pay-late",
                amount=money_pb2.Money(currency_code="CNY", amount_minor=148_00),
            ),
            metadata=checkout,
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
        "ORDER_NOT_PENDING",
    )


async def test_concurrent_first_orders_of_one_member_open_one(
    subscription, admin, operator, mint, subscription_app
):
    await plan(admin, operator)
    member = str(uuid.uuid4())
    own = mint(member)
    outcomes = await asyncio.gather(
        *(order(subscription, own, member) for _ in range(6)), return_exceptions=True
    )
    made = [o for o in outcomes if isinstance(o, pb.CreateSubscriptionOrderResponse)]
    refused = [o for o in outcomes if isinstance(o, grpc.aio.AioRpcError)]
    assert len(made) == 1 and len(refused) == 5
    for error in refused:
        assert error.code() == grpc.StatusCode.FAILED_PRECONDITION, error.details()
    counts = await subscription_app.pool.fetchrow(
        "SELECT (SELECT count(*) FROM subscriptions WHERE member_id = $1) AS subs,"
        " (SELECT count(*) FROM orders WHERE member_id = $1) AS orders",
        uuid.UUID(member),
    )
    assert (counts["subs"], counts["orders"]) == (1, 1)
