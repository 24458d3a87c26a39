"""The life of a paid subscription under the test's clock, through gRPC, the payment provider's
answers (events) and the jobs: renewed, then a renewal failing into grace and expiring; a
renewal paid late in grace; a purchase settling grace; cancelling before the renewal; a frozen
member's period ending unpaid; and the multiplier following it all in points."""

from __future__ import annotations

import datetime as dt

import pytest

from loyalty.identity.v1 import events_pb2 as identity
from loyalty.subscription.v1 import resources_pb2 as res
from loyalty.subscription.v1 import subscription_admin_service_pb2 as admin_pb
from loyalty.subscription.v1 import subscription_service_pb2 as pb
from services.points.app import PointsApp
from tests.support import harness, servers
from tests.support.ids import uid
from tests.support.subscription_lifecycle import (
    CHARGE,
    CHARGE_CANCELLED,
    EXPIRED,
    FAILED,
    RENEWAL_FAILED,
    RENEWED,
    START,
    SUCCEEDED,
    YEAR_END,
    YEARLY_PRICE,
    confirm,
    fail,
    orders,
    outbox_count,
    parked,
    plans,
    renewals,
    sub_row,
    subscribed,
    succeed,
    terms,
    tick,
)
from tests.support.waiting import wait_until

DAY = dt.timedelta(days=1)
GRACE = dt.timedelta(days=3)


async def test_renewed_then_a_failed_renewal_goes_to_grace_and_expires(
    subscription, admin, operator, checkout, clock, publish, consumed, tap, subscription_app
):
    app = subscription_app
    clock.set(START)
    await plans(admin, operator)
    sub = await subscribed(subscription, checkout)
    sid, member = sub.subscription_id, sub.member_id
    assert await renewals(app, YEAR_END - 2 * DAY) == 0  # not due yet
    # A day before the end the renewal is charged, once however often the job runs.
    assert await renewals(app, YEAR_END - DAY) == 1
    assert await renewals(app, YEAR_END - DAY + dt.timedelta(minutes=1)) == 0
    (renewal,) = await orders(app, sid, "renewal")
    assert (renewal["state"], renewal["renews_end"], renewal["charge_attempts"]) == (
        "pending_payment",
        YEAR_END,
        1,
    )
    assert renewal["expire_time"] == YEAR_END + GRACE
    order_id = str(renewal["order_id"])
    (charge,) = await tap.wait_for(CHARGE, order_id)
    assert charge.data["kind"] == "ORDER_KIND_RENEWAL" and charge.data["attempt"] == 1
    assert charge.data["amount"] == {"currencyCode": "CNY", "amountMinor": "14800"}
    assert charge.data["subscriptionId"] == sid
    row = await sub_row(app, sid)
    assert (row["attempts"], str(row["order_id"])) == (1, order_id)

    await succeed(publish, member, order_id, YEARLY_PRICE)
    await consumed(SUCCEEDED)
    row = await sub_row(app, sid)
    assert (row["state"], row["attempts"], row["order_id"]) == ("active", 0, None)
    second_end = YEAR_END.replace(year=2028)
    assert row["period_end"] == second_end
    assert [(t["channel"], t["start_time"]) for t in await terms(app, sid)] == [
        ("purchase", START),
        ("renewal", YEAR_END),
    ]
    (renewed,) = await tap.wait_for(RENEWED, sid)
    assert renewed.data["source"] == "TERM_SOURCE_RENEWAL"
    assert renewed.data["orderId"] == order_id
    assert renewed.data["periodEnd"] == "2028-03-10T04:30:00Z"

    # The next renewal fails: grace for 3 days after the period end, the order still payable.
    assert await renewals(app, second_end - DAY) == 1
    _, again = await orders(app, sid, "renewal")
    failed_id = str(again["order_id"])
    clock.set(second_end - DAY + dt.timedelta(hours=1))
    await fail(publish, member, failed_id, YEARLY_PRICE)
    await fail(publish, member, failed_id, YEARLY_PRICE)  # a duplicate answer
    await consumed(FAILED, 2)
    row = await sub_row(app, sid)
    assert (row["state"], row["grace_until"]) == ("grace", second_end + GRACE)
    (graced,) = await tap.wait_for(RENEWAL_FAILED, sid)
    assert graced.data["orderId"] == failed_id
    assert graced.data["failureReason"] == "card_declined"
    assert await outbox_count(app, RENEWAL_FAILED, sid) == 1
    _, again = await orders(app, sid, "renewal")
    assert (again["state"], again["last_failure_reason"]) == ("pending_payment", "card_declined")
    got = await subscription.GetSubscription(
        pb.GetSubscriptionRequest(subscription_id=sid), metadata=checkout
    )
    assert got.subscription.state == res.SUBSCRIPTION_STATE_GRACE
    assert got.subscription.order_id == failed_id

    # Retried a day after the last attempt, on the same order.
    assert await renewals(app, second_end - dt.timedelta(hours=1)) == 0
    assert await renewals(app, second_end) == 1
    retry = await tap.wait_for(CHARGE, failed_id, count=2)
    assert [c.data["attempt"] for c in retry] == [1, 2]

    # Grace over, unpaid: expired, the order failed and its charge withdrawn.
    assert await tick(app, second_end + GRACE - dt.timedelta(seconds=1)) == 0
    assert await tick(app, second_end + GRACE) == 1  # the subscription (its order with it)
    row = await sub_row(app, sid)
    assert (row["state"], row["end_cause"], row["ended_at"], row["auto_renew"]) == (
        "expired",
        "grace_ended",
        second_end + GRACE,
        False,
    )
    _, again = await orders(app, sid, "renewal")
    assert again["state"] == "failed"
    (expired,) = await tap.wait_for(EXPIRED, sid)
    assert expired.data["cause"] == "END_CAUSE_GRACE_ENDED"
    (withdrawn,) = await tap.wait_for(CHARGE_CANCELLED, failed_id)
    assert withdrawn.data["orderState"] == "ORDER_STATE_FAILED"
    assert await renewals(app, second_end + GRACE + DAY) == 0
    # The provider's late success cannot revive it: parked for a refund.
    await succeed(publish, member, failed_id, YEARLY_PRICE)
    await consumed(SUCCEEDED, 2)
    assert await parked(app, failed_id) == ["ORDER_NOT_PAYABLE"]
    assert (await sub_row(app, sid))["state"] == "expired"


async def test_a_renewal_paid_late_in_grace_starts_at_the_old_end(
    subscription, admin, operator, checkout, clock, publish, consumed, tap, subscription_app
):
    app = subscription_app
    clock.set(START)
    await plans(admin, operator)
    sub = await subscribed(subscription, checkout)
    sid, member = sub.subscription_id, sub.member_id
    await renewals(app, YEAR_END - DAY)
    (renewal,) = await orders(app, sid, "renewal")
    # No answer by the period end: grace, said once, from the end.
    assert await tick(app, YEAR_END + dt.timedelta(minutes=5)) == 1
    assert await tick(app, YEAR_END + dt.timedelta(minutes=6)) == 0
    row = await sub_row(app, sid)
    assert (row["state"], row["grace_until"]) == ("grace", YEAR_END + GRACE)
    (graced,) = await tap.wait_for(RENEWAL_FAILED, sid)
    assert graced.data["failureReason"] == "not_paid_in_time"
    assert graced.data["failedTime"] == "2027-03-10T04:30:00Z"
    assert graced.data["orderId"] == str(renewal["order_id"])

    clock.set(YEAR_END + 2 * DAY)
    await succeed(publish, member, str(renewal["order_id"]), YEARLY_PRICE)
    await consumed(SUCCEEDED)
    row = await sub_row(app, sid)
    assert (row["state"], row["grace_until"]) == ("active", None)
    assert row["period_end"] == YEAR_END.replace(year=2028)  # the grace days belong to it
    assert (await terms(app, sid))[-1]["start_time"] == YEAR_END
    (renewed,) = await tap.wait_for(RENEWED, sid)
    assert renewed.data["periodStart"] == "2027-03-10T04:30:00Z"
    assert await tick(app, YEAR_END + GRACE + DAY) == 0  # nothing left to expire


async def test_a_purchase_in_grace_settles_the_renewal_and_withdraws_its_charge(
    subscription, admin, operator, checkout, clock, publish, consumed, tap, subscription_app
):
    app = subscription_app
    clock.set(START)
    await plans(admin, operator)
    sub = await subscribed(subscription, checkout)
    sid, member = sub.subscription_id, sub.member_id
    await renewals(app, YEAR_END - DAY)
    await tick(app, YEAR_END + DAY)
    assert (await sub_row(app, sid))["state"] == "grace"
    (renewal,) = await orders(app, sid, "renewal")
    renewal_id = str(renewal["order_id"])
    # The member buys a year in grace (stacking): active again from the old end.
    made = await subscription.CreateSubscriptionOrder(
        pb.CreateSubscriptionOrderRequest(
            request_id=uid(),
            member_id=member,
            plan_id="plus_yearly",
            collection=res.PAYMENT_COLLECTION_STOREFRONT,
        ),
        metadata=checkout,
    )
    assert made.subscription.subscription_id == sid
    paid = await confirm(subscription, checkout, made.order)
    assert paid.subscription.state == res.SUBSCRIPTION_STATE_ACTIVE
    assert paid.subscription.period_end.ToDatetime(dt.UTC) == YEAR_END.replace(year=2028)
    assert [t.start_time.ToDatetime(dt.UTC) for t in paid.subscription.terms] == [START, YEAR_END]
    (renewal,) = await orders(app, sid, "renewal")
    assert renewal["state"] == "cancelled"
    (withdrawn,) = await tap.wait_for(CHARGE_CANCELLED, renewal_id)
    assert withdrawn.data["orderState"] == "ORDER_STATE_CANCELLED"
    row = await sub_row(app, sid)
    assert (row["attempts"], row["last_attempt_at"], row["order_id"]) == (0, None, None)
    # The next charge is for the new end only; the old one paid anyway is parked for a refund.
    assert await renewals(app, YEAR_END + 2 * DAY) == 0
    await succeed(publish, member, renewal_id, YEARLY_PRICE)
    await consumed(SUCCEEDED)
    assert await parked(app, renewal_id) == ["ORDER_NOT_PAYABLE"]
    assert len(await terms(app, sid)) == 2


async def test_a_gift_in_grace_leaves_no_charge_for_the_old_end(
    subscription, admin, operator, checkout, clock, tap, subscription_app
):
    app = subscription_app
    clock.set(START)
    await plans(admin, operator)
    sub = await subscribed(subscription, checkout)
    sid = sub.subscription_id
    await renewals(app, YEAR_END - DAY)
    await tick(app, YEAR_END + DAY)
    (old,) = await orders(app, sid, "renewal")
    await admin.GrantSubscription(
        admin_pb.GrantSubscriptionRequest(
            request_id=uid(), member_id=sub.member_id, plan_id="plus_yearly", reason="goodwill"
        ),
        metadata=operator,
    )
    row = await sub_row(app, sid)
    new_end = YEAR_END.replace(year=2028)
    assert (row["state"], row["period_end"], row["order_id"]) == ("active", new_end, None)
    # The old end's charge is withdrawn by the grant; the next is for the new end.
    (withdrawn_now,) = await orders(app, sid, "renewal")
    assert withdrawn_now["state"] == "cancelled"
    assert await renewals(app, new_end - DAY) == 1
    old_order, new_order = await orders(app, sid, "renewal")
    assert old_order["order_id"] == old["order_id"] and old_order["state"] == "cancelled"
    assert (new_order["renews_end"], new_order["state"]) == (new_end, "pending_payment")
    (withdrawn,) = await tap.wait_for(CHARGE_CANCELLED, str(old["order_id"]))
    assert withdrawn.data["orderState"] == "ORDER_STATE_CANCELLED"


async def test_a_cancelled_subscription_is_not_charged_and_expires_at_its_end(
    subscription, admin, operator, checkout, mint, clock, tap, subscription_app
):
    app = subscription_app
    clock.set(START)
    await plans(admin, operator)
    sub = await subscribed(subscription, checkout)
    sid = sub.subscription_id
    await subscription.CancelSubscription(
        pb.CancelSubscriptionRequest(request_id=uid(), subscription_id=sid),
        metadata=mint(sub.member_id),
    )
    assert await renewals(app, YEAR_END - DAY) == 0
    assert await orders(app, sid, "renewal") == []
    assert await tick(app, YEAR_END - dt.timedelta(seconds=1)) == 0
    assert await tick(app, YEAR_END) == 1
    row = await sub_row(app, sid)
    assert (row["state"], row["end_cause"], row["ended_at"]) == (
        "expired",
        "period_ended",
        YEAR_END,
    )
    (expired,) = await tap.wait_for(EXPIRED, sid)
    assert expired.data["cause"] == "END_CAUSE_PERIOD_ENDED"
    assert expired.data["expiredTime"] == "2027-03-10T04:30:00Z"
    assert await outbox_count(app, CHARGE, sid) == 0


async def test_a_renewal_charged_before_a_cancel_still_applies_when_paid(
    subscription, admin, operator, checkout, mint, clock, publish, consumed, subscription_app
):
    app = subscription_app
    clock.set(START)
    await plans(admin, operator)
    sub = await subscribed(subscription, checkout)
    sid, member = sub.subscription_id, sub.member_id
    await renewals(app, YEAR_END - DAY)
    (renewal,) = await orders(app, sid, "renewal")
    await subscription.CancelSubscription(
        pb.CancelSubscriptionRequest(request_id=uid(), subscription_id=sid),
        metadata=mint(member),
    )
    await succeed(publish, member, str(renewal["order_id"]), YEARLY_PRICE)  # the money was taken
    await consumed(SUCCEEDED)
    second_end = YEAR_END.replace(year=2028)
    row = await sub_row(app, sid)
    assert (row["state"], row["auto_renew"], row["period_end"]) == ("active", False, second_end)
    # The cancel stands for the next one: no charge, the end at the new period end.
    assert await renewals(app, second_end - DAY) == 0
    assert await tick(app, second_end) == 1
    row = await sub_row(app, sid)
    assert (row["state"], row["end_cause"]) == ("expired", "period_ended")


async def test_a_frozen_member_is_not_charged_and_is_charged_once_unfrozen_in_grace(
    subscription, admin, operator, checkout, clock, publish, consumed, tap, subscription_app
):
    app = subscription_app
    clock.set(START)
    await plans(admin, operator)
    sub = await subscribed(subscription, checkout)
    sid, member = sub.subscription_id, sub.member_id
    frozen = "loyalty.identity.member.frozen.v1"
    await publish(frozen, member, identity.MemberFrozen(member_id=member, reason="risk"))
    await consumed(frozen)
    assert await renewals(app, YEAR_END - DAY) == 0
    assert await tick(app, YEAR_END) == 1
    (graced,) = await tap.wait_for(RENEWAL_FAILED, sid)
    assert (graced.data["failureReason"], graced.data.get("orderId", "")) == ("member_frozen", "")
    assert await renewals(app, YEAR_END + DAY) == 0  # still frozen
    unfrozen = "loyalty.identity.member.unfrozen.v1"
    await publish(unfrozen, member, identity.MemberUnfrozen(member_id=member))
    await consumed(unfrozen)
    assert await renewals(app, YEAR_END + DAY) == 1
    assert await renewals(app, YEAR_END + DAY) == 0
    (renewal,) = await orders(app, sid, "renewal")
    assert (renewal["renews_end"], renewal["state"]) == (YEAR_END, "pending_payment")


@pytest.fixture(scope="module")
async def points_app(identity_app, amqp):
    async with harness.running(
        PointsApp,
        amqp,
        identity=identity_app,
        schedule=False,
        database_url=servers.database_url("points_lifecycle"),  # and so queues of its own
    ) as app:
        yield app


async def test_the_multiplier_follows_renewal_grace_and_expiry_in_points(
    points_app, subscription, admin, operator, checkout, clock, publish, consumed, subscription_app
):
    app = subscription_app
    clock.set(START)
    await plans(admin, operator)
    sub = await subscribed(subscription, checkout)
    sid, member = sub.subscription_id, sub.member_id

    def projected(state: str, period_end: dt.datetime):
        async def check() -> bool:
            row = await points_app.pool.fetchrow(
                "SELECT state, multiplier, period_end FROM subscriptions"
                " WHERE subscription_id = $1::text",
                sid,
            )
            return row is not None and (row["state"], row["multiplier"], row["period_end"]) == (
                state,
                10,
                period_end,
            )

        return check

    await wait_until(projected("active", YEAR_END), 10, "points to project the activation")
    await renewals(app, YEAR_END - DAY)
    (renewal,) = await orders(app, sid, "renewal")
    await succeed(publish, member, str(renewal["order_id"]), YEARLY_PRICE)
    await consumed(SUCCEEDED)
    second_end = YEAR_END.replace(year=2028)
    await wait_until(projected("active", second_end), 10, "points to project the renewal")
    await renewals(app, second_end - DAY)
    await tick(app, second_end)  # unpaid at the end: grace, the multiplier kept
    await wait_until(projected("grace", second_end), 10, "points to project grace")
    await tick(app, second_end + GRACE)
    await wait_until(projected("expired", second_end), 10, "points to project the expiry")
