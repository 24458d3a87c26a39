"""Changing plan: now (an upgrade: the unused value credited, the rest paid as a PLAN_CHANGE
order, the open terms cut at the payment) or at the next renewal (which then charges the new
plan); refusals change nothing; one change waits for its payment at a time."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import grpc

from loyalty.subscription.v1 import resources_pb2 as res
from loyalty.subscription.v1 import subscription_service_pb2 as pb
from services.subscription import jobs
from tests.support.grpc_errors import fails, failure_of
from tests.support.ids import uid
from tests.support.snapshots import snapshot
from tests.support.subscription_lifecycle import (
    CHARGE,
    CHARGE_CANCELLED,
    PLAN_CHANGED,
    PREMIUM_PRICE,
    RENEWED,
    START,
    SUCCEEDED,
    YEAR_END,
    confirm,
    orders,
    outbox_count,
    plans,
    renewals,
    sub_row,
    subscribed,
    succeed,
    terms,
    tick,
)

DAY = dt.timedelta(days=1)


async def change(subscription, caller, sid: str, plan_id: str, timing, **fields):
    return await subscription.ChangePlan(
        pb.ChangePlanRequest(
            request_id=uid(), subscription_id=sid, plan_id=plan_id, timing=timing, **fields
        ),
        metadata=caller,
    )


NOW, AT_RENEWAL = res.PLAN_CHANGE_TIMING_NOW, res.PLAN_CHANGE_TIMING_AT_RENEWAL


async def test_an_upgrade_now_credits_the_unused_value_and_starts_the_new_plan_when_paid(
    subscription, admin, operator, checkout, mint, clock, publish, consumed, tap, subscription_app
):
    app = subscription_app
    clock.set(START)
    await plans(admin, operator)
    sub = await subscribed(subscription, checkout)
    sid, member = sub.subscription_id, sub.member_id
    # The contract's example: 122 of 365 days of a 148.00 year used, changed to a 248.00 year.
    changed_at = START + 122 * DAY
    clock.set(changed_at)
    made = await change(subscription, mint(member), sid, "plus_premium", NOW)
    order = made.order
    assert (order.kind, order.state) == (
        res.ORDER_KIND_PLAN_CHANGE,
        res.ORDER_STATE_PENDING_PAYMENT,
    )
    assert (order.list_price.amount_minor, order.credit.amount_minor) == (PREMIUM_PRICE, 9_854)
    assert (order.amount.amount_minor, order.charge_attempts) == (14_946, 1)
    pending = made.subscription.pending_plan_change
    assert (pending.plan_id, pending.timing, pending.order_id) == (
        "plus_premium",
        NOW,
        order.order_id,
    )
    assert made.subscription.plan_id == "plus_yearly"  # nothing changes before the payment
    (charge,) = await tap.wait_for(CHARGE, order.order_id)
    assert charge.data["kind"] == "ORDER_KIND_PLAN_CHANGE"
    assert charge.data["amount"]["amountMinor"] == "14946"

    await succeed(publish, member, order.order_id, 14_946)
    await consumed(SUCCEEDED)
    new_end = changed_at.replace(year=2027)
    assert [
        (t["channel"], t["plan_id"], t["start_time"], t["end_time"], t["paid_minor"])
        for t in await terms(app, sid)
    ] == [
        ("purchase", "plus_yearly", START, changed_at, 4_946),
        ("plan_change", "plus_premium", changed_at, new_end, 9_854 + 14_946),
    ]
    row = await sub_row(app, sid)
    assert (row["period_end"], row["renewal_plan_id"]) == (new_end, "plus_premium")
    (event,) = await tap.wait_for(PLAN_CHANGED, sid)
    assert (event.data["cause"], event.data["pointsMultiplier"]) == (
        "PLAN_CHANGE_CAUSE_UPGRADE",
        15,
    )
    assert (event.data["previousPlanId"], event.data["planId"]) == ("plus_yearly", "plus_premium")
    assert event.data["periodEnd"] == "2027-07-10T04:30:00Z"
    got = await subscription.GetSubscription(
        pb.GetSubscriptionRequest(subscription_id=sid), metadata=checkout
    )
    assert (got.subscription.plan_id, got.subscription.points_multiplier) == ("plus_premium", 15)
    # Renewals charge the new plan from then on.
    assert await renewals(app, new_end - DAY) == 1
    (renewal,) = await orders(app, sid, "renewal")
    assert (renewal["plan_id"], renewal["amount_minor"]) == ("plus_premium", PREMIUM_PRICE)


async def test_refused_changes_change_nothing(
    subscription, admin, operator, checkout, mint, clock, subscription_app
):
    app = subscription_app
    clock.set(START)
    await plans(admin, operator)
    sub = await subscribed(subscription, checkout)
    sid, own = sub.subscription_id, mint(sub.member_id)
    clock.set(START + DAY)
    before = await snapshot(app.pool, "orders", "subscriptions", outbox="SELECT id FROM outbox")
    refused = await fails(
        change(subscription, own, sid, "plus_monthly", NOW),
        grpc.StatusCode.FAILED_PRECONDITION,
        "PLAN_CHANGE_NOT_UPGRADE",
    )
    assert refused.reason == "PLAN_CHANGE_NOT_UPGRADE"
    await fails(
        change(subscription, own, sid, "plus_yearly", NOW),
        grpc.StatusCode.FAILED_PRECONDITION,
        "PLAN_UNCHANGED",
    )
    await fails(
        change(subscription, own, sid, "plus_yearly", AT_RENEWAL),
        grpc.StatusCode.FAILED_PRECONDITION,
        "PLAN_UNCHANGED",
    )
    await fails(
        change(subscription, own, sid, "plus_gold", NOW),
        grpc.StatusCode.NOT_FOUND,
        "PLAN_NOT_FOUND",
    )
    await fails(
        change(subscription, mint(str(uuid.uuid4())), sid, "plus_premium", NOW),
        grpc.StatusCode.NOT_FOUND,
        "SUBSCRIPTION_NOT_FOUND",
    )
    await fails(
        change(subscription, own, "x", "", res.PLAN_CHANGE_TIMING_UNSPECIFIED),
        grpc.StatusCode.INVALID_ARGUMENT,
        fields=["subscription_id", "plan_id", "timing"],
    )
    assert (
        await snapshot(app.pool, "orders", "subscriptions", outbox="SELECT id FROM outbox")
        == before
    )
    # In grace a renewal is owed: settle it first.
    await renewals(app, YEAR_END - DAY)
    await tick(app, YEAR_END)
    await fails(
        change(subscription, own, sid, "plus_premium", NOW),
        grpc.StatusCode.FAILED_PRECONDITION,
        "SUBSCRIPTION_IN_GRACE",
    )


async def test_a_change_at_the_next_renewal_is_charged_then(
    subscription, admin, operator, checkout, mint, clock, publish, consumed, tap, subscription_app
):
    app = subscription_app
    clock.set(START)
    await plans(admin, operator)
    sub = await subscribed(subscription, checkout)
    sid, member, own = sub.subscription_id, sub.member_id, mint(sub.member_id)
    clock.set(START + 30 * DAY)
    made = await change(subscription, own, sid, "plus_premium", AT_RENEWAL)
    assert not made.HasField("order")
    shown = made.subscription
    assert (shown.renewal_plan_id, shown.renewal_price.amount_minor) == (
        "plus_premium",
        PREMIUM_PRICE,
    )
    assert (shown.plan_id, shown.pending_plan_change.timing) == ("plus_yearly", AT_RENEWAL)
    assert shown.pending_plan_change.request_time.ToDatetime(dt.UTC) == START + 30 * DAY
    got = await subscription.GetSubscription(
        pb.GetSubscriptionRequest(subscription_id=sid), metadata=own
    )
    assert got.subscription == shown  # every answer shows the change waiting
    # Naming the plan held drops the change; naming the new one again schedules it again.
    dropped = await change(subscription, own, sid, "plus_yearly", AT_RENEWAL)
    assert dropped.subscription.renewal_plan_id == "plus_yearly"
    assert not dropped.subscription.HasField("pending_plan_change")
    await change(subscription, own, sid, "plus_premium", AT_RENEWAL)

    assert await renewals(app, YEAR_END - DAY) == 1
    (renewal,) = await orders(app, sid, "renewal")
    assert (renewal["plan_id"], renewal["amount_minor"]) == ("plus_premium", PREMIUM_PRICE)
    await succeed(publish, member, str(renewal["order_id"]), PREMIUM_PRICE)
    await consumed(SUCCEEDED)
    assert [(t["plan_id"], t["start_time"]) for t in await terms(app, sid)] == [
        ("plus_yearly", START),
        ("plus_premium", YEAR_END),
    ]
    # The plan in effect changes when the new term begins, not when it was paid for.
    assert await jobs.begin_terms(app.usecases, app.pool, YEAR_END - dt.timedelta(seconds=1)) == 0
    assert await outbox_count(app, PLAN_CHANGED, sid) == 0
    assert await jobs.begin_terms(app.usecases, app.pool, YEAR_END) == 1
    assert await jobs.begin_terms(app.usecases, app.pool, YEAR_END) == 0  # once
    (event,) = await tap.wait_for(PLAN_CHANGED, sid)
    assert (event.data["cause"], event.data["effectiveTime"]) == (
        "PLAN_CHANGE_CAUSE_RENEWAL",
        "2027-03-10T04:30:00Z",
    )
    (renewed,) = await tap.wait_for(RENEWED, sid)
    assert (renewed.data["planId"], renewed.data["pointsMultiplier"]) == ("plus_premium", 15)


async def test_two_changes_now_at_once_make_one_order(
    subscription, admin, operator, checkout, mint, clock, subscription_app
):
    clock.set(START)
    await plans(admin, operator)
    sub = await subscribed(subscription, checkout)
    clock.set(START + 10 * DAY)
    outcomes = await asyncio.gather(
        *(
            change(subscription, mint(sub.member_id), sub.subscription_id, "plus_premium", NOW)
            for _ in range(4)
        ),
        return_exceptions=True,
    )
    made = [o for o in outcomes if isinstance(o, pb.ChangePlanResponse)]
    assert len(made) == 1
    for refused in (o for o in outcomes if not isinstance(o, pb.ChangePlanResponse)):
        failure = failure_of(refused)
        assert failure.reason == "PLAN_CHANGE_PENDING"
    waiting = await orders(subscription_app, sub.subscription_id, "plan_change")
    assert [str(o["order_id"]) for o in waiting] == [made[0].order.order_id]


async def test_a_change_now_withdraws_a_renewal_charge_for_the_old_end(
    subscription, admin, operator, checkout, mint, clock, tap, subscription_app
):
    app = subscription_app
    clock.set(START)
    await plans(admin, operator)
    sub = await subscribed(subscription, checkout)
    sid = sub.subscription_id
    await renewals(app, YEAR_END - DAY)
    (renewal,) = await orders(app, sid, "renewal")
    clock.set(YEAR_END - DAY + dt.timedelta(hours=1))
    made = await change(
        subscription,
        mint(sub.member_id),
        sid,
        "plus_premium",
        NOW,
        collection=res.PAYMENT_COLLECTION_STOREFRONT,
    )
    assert made.order.charge_attempts == 0  # the storefront takes this payment itself
    paid = await confirm(subscription, checkout, made.order)
    assert paid.subscription.plan_id == "plus_premium"
    (renewal,) = await orders(app, sid, "renewal")
    assert renewal["state"] == "cancelled"
    (withdrawn,) = await tap.wait_for(CHARGE_CANCELLED, str(renewal["order_id"]))
    assert withdrawn.data["orderState"] == "ORDER_STATE_CANCELLED"
    row = await sub_row(app, sid)
    assert (row["attempts"], row["order_id"]) == (0, None)
    assert await renewals(app, YEAR_END + DAY) == 0  # the next charge is for the new end


async def test_a_stacked_term_of_another_plan_changes_the_plan_when_it_begins(
    subscription, admin, operator, checkout, clock, tap, subscription_app
):
    app = subscription_app
    clock.set(START)
    await plans(admin, operator)
    sub = await subscribed(subscription, checkout)
    sid, member = sub.subscription_id, sub.member_id
    clock.set(START + 10 * DAY)
    for plan_id in ("plus_premium", "plus_premium"):  # another plan, then the same again
        made = await subscription.CreateSubscriptionOrder(
            pb.CreateSubscriptionOrderRequest(
                request_id=uid(),
                member_id=member,
                plan_id=plan_id,
                collection=res.PAYMENT_COLLECTION_STOREFRONT,
            ),
            metadata=checkout,
        )
        await confirm(subscription, checkout, made.order)
    second_end = YEAR_END.replace(year=2028)
    assert await jobs.begin_terms(app.usecases, app.pool, START + 11 * DAY) == 0
    assert await outbox_count(app, PLAN_CHANGED, sid) == 0  # bought, not begun
    # The premium term begins at the yearly one's end: the plan in effect changes then.
    assert await jobs.begin_terms(app.usecases, app.pool, YEAR_END) == 1
    (event,) = await tap.wait_for(PLAN_CHANGED, sid)
    assert event.data == {
        "subscriptionId": sid,
        "memberId": member,
        "previousPlanId": "plus_yearly",
        "previousPlanVersion": 1,
        "planId": "plus_premium",
        "planVersion": 1,
        "cause": "PLAN_CHANGE_CAUSE_STACKED_TERM",
        "pointsMultiplier": 15,
        "memberDiscountBps": 500,
        "effectiveTime": "2027-03-10T04:30:00Z",
        "periodEnd": "2029-03-10T04:30:00Z",
    }
    # The next premium term begins too, but it changes no plan: nothing more is said.
    assert await jobs.begin_terms(app.usecases, app.pool, second_end) == 1
    assert await outbox_count(app, PLAN_CHANGED, sid) == 1
