"""A member closed by identity (member.closed): its live subscription ends at once, CANCELLED
with the refund the formula gives (subscription.cancelled, refunded, expired), an unpaid first
order is cancelled, and the member can no longer buy, start a trial or be given a period."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import grpc

from loyalty.identity.v1 import events_pb2 as identity
from loyalty.subscription.v1 import resources_pb2 as res
from loyalty.subscription.v1 import subscription_admin_service_pb2 as admin_pb
from loyalty.subscription.v1 import subscription_service_pb2 as pb
from tests.support.grpc_errors import fails
from tests.support.ids import uid
from tests.support.snapshots import snapshot
from tests.support.subscription_choices import (
    CANCELLED,
    CLOSED,
    EXPIRED,
    REFUNDED,
    START,
    buy,
    plans,
    start_trial,
)

PRECONDITION = grpc.StatusCode.FAILED_PRECONDITION


async def close(publish, consumed, member: str, count: int = 1) -> None:
    await publish(CLOSED, member, identity.MemberClosed(member_id=member))
    await consumed(CLOSED, count)


async def state_of(pool) -> dict:
    return await snapshot(
        pool,
        "subscriptions",
        "terms",
        "orders",
        "refunds",
        "cancellations",
        "members",
        outbox="SELECT id FROM outbox",
    )


async def listed(admin, operator, member: str) -> res.Subscription:
    found = await admin.ListSubscriptions(
        admin_pb.ListSubscriptionsRequest(member_id=member), metadata=operator
    )
    (sub,) = found.subscriptions
    return sub


async def test_a_closed_members_subscription_is_cancelled_with_the_formulas_refund(
    subscription, admin, operator, checkout, clock, publish, consumed, tap, subscription_app
):
    clock.set(START)
    await plans(admin, operator)
    member = str(uuid.uuid4())
    bought = await buy(subscription, checkout, member, "pay-1")
    sub_id = bought.subscription.subscription_id
    clock.set(START + dt.timedelta(days=30))
    await close(publish, consumed, member)

    sub = await listed(admin, operator, member)
    assert sub.state == res.SUBSCRIPTION_STATE_CANCELLED and not sub.auto_renew
    assert sub.end_cause == res.END_CAUSE_MEMBER_CLOSED
    # 30 of 365 days, past the cooling-off: 14,800 − floor(14,800 × 30 / 365) = 13,584.
    assert sub.refund.amount.amount_minor == 13_584 and not sub.refund.full_refund
    assert [(p.order_id, p.payment_id) for p in sub.refund.payments] == [
        (bought.order.order_id, "pay-1")
    ]
    assert (sub.refund.refunded_by, sub.cancelled_by) == ("system", "system")
    pool = subscription_app.pool
    row = await pool.fetchrow(
        "SELECT state, end_cause, refunded_minor, ended_at FROM subscriptions"
        " WHERE subscription_id = $1",
        uuid.UUID(sub_id),
    )
    assert dict(row) == {
        "state": "cancelled",
        "end_cause": "member_closed",
        "refunded_minor": 13_584,
        "ended_at": START + dt.timedelta(days=30),
    }
    assert (
        await pool.fetchval(
            "SELECT amount_minor FROM refunds WHERE subscription_id = $1", uuid.UUID(sub_id)
        )
        == 13_584
    )

    (cancelled,) = await tap.wait_for(CANCELLED, sub_id)
    assert cancelled.data["cause"] == "CANCEL_CAUSE_MEMBER_CLOSED"
    assert cancelled.data["effectiveEnd"] == "2025-02-09T00:00:00Z"
    (refunded,) = await tap.wait_for(REFUNDED, sub_id)
    assert refunded.data["refunded"] == {"currencyCode": "CNY", "amountMinor": "13584"}
    (expired,) = await tap.wait_for(EXPIRED, sub_id)
    assert expired.data["cause"] == "END_CAUSE_MEMBER_CLOSED"

    # Closed is final: nothing more can be bought, started or given, and another member.closed
    # changes nothing.
    before = await state_of(pool)
    order = subscription.CreateSubscriptionOrder(
        pb.CreateSubscriptionOrderRequest(
            request_id=uid(), member_id=member, plan_id="plus_yearly"
        ),
        metadata=checkout,
    )
    await fails(order, PRECONDITION, "MEMBER_CLOSED")
    await fails(start_trial(subscription, checkout, member), PRECONDITION, "MEMBER_CLOSED")
    gift = admin.GrantSubscription(
        admin_pb.GrantSubscriptionRequest(
            request_id=uid(), member_id=member, plan_id="plus_yearly", reason="goodwill"
        ),
        metadata=operator,
    )
    await fails(gift, PRECONDITION, "MEMBER_CLOSED")
    await close(publish, consumed, member, count=2)
    after = await state_of(pool)
    after["members"] = before["members"]  # the second event's time only
    assert after == before


async def test_a_closed_members_unpaid_order_and_free_trial_end_without_a_refund(
    subscription, admin, operator, checkout, publish, consumed, tap, subscription_app
):
    await plans(admin, operator)
    ordering, trying = str(uuid.uuid4()), str(uuid.uuid4())
    made = await subscription.CreateSubscriptionOrder(
        pb.CreateSubscriptionOrderRequest(
            request_id=uid(), member_id=ordering, plan_id="plus_yearly"
        ),
        metadata=checkout,
    )
    trial_id = (await start_trial(subscription, checkout, trying)).subscription.subscription_id
    await publish(CLOSED, ordering, identity.MemberClosed(member_id=ordering))
    await publish(CLOSED, trying, identity.MemberClosed(member_id=trying))
    await consumed(CLOSED, 2)

    pool = subscription_app.pool
    ends = await pool.fetch(
        "SELECT subscription_id, state, end_cause, refunded_minor FROM subscriptions"
        " WHERE member_id = ANY($1::uuid[]) ORDER BY subscription_id",
        [ordering, trying],
    )
    assert sorted((str(r["subscription_id"]), r["state"], r["end_cause"]) for r in ends) == sorted(
        [
            (made.subscription.subscription_id, "cancelled", "member_closed"),
            (trial_id, "cancelled", "member_closed"),
        ]
    )
    order_state = await pool.fetchval(
        "SELECT state FROM orders WHERE order_id = $1", uuid.UUID(made.order.order_id)
    )
    assert order_state == "cancelled"
    assert await pool.fetchval("SELECT count(*) FROM refunds") == 0  # nothing was paid
    # The trial was announced, so its end is; the unpaid order's subscription never was.
    (expired,) = await tap.wait_for(EXPIRED, trial_id)
    assert expired.data["cause"] == "END_CAUSE_MEMBER_CLOSED"
    announced = await pool.fetch(
        "SELECT event_type, subject FROM outbox WHERE event_type = ANY($1)",
        [CANCELLED, REFUNDED, EXPIRED],
    )
    assert sorted((r["event_type"], r["subject"]) for r in announced) == sorted(
        [(CANCELLED, trial_id), (EXPIRED, trial_id)]
    )


async def test_a_trial_racing_the_members_closing_never_outlives_it(
    subscription, admin, operator, mint, clock, publish, consumed, subscription_app
):
    """StartTrial and member.closed at the same instant, for several members: whichever comes
    first, no closed member is left with a live subscription (the trial holds the member's
    status until it commits, and the closing then ends it)."""
    clock.set(START)
    await plans(admin, operator)
    members = [str(uuid.uuid4()) for _ in range(8)]

    async def trial(member: str) -> None:
        try:
            await start_trial(subscription, mint(member), member)
        except grpc.aio.AioRpcError as error:
            assert error.code() == PRECONDITION, error

    async def closing(member: str) -> None:
        await publish(CLOSED, member, identity.MemberClosed(member_id=member))

    await asyncio.gather(*(f(m) for m in members for f in (trial, closing)))
    await consumed(CLOSED, len(members))
    live = await subscription_app.pool.fetchval(
        "SELECT count(*) FROM subscriptions s JOIN members m USING (member_id)"
        " WHERE m.status = 'closed' AND s.state IN ('pending_payment', 'active', 'grace')"
    )
    assert live == 0
