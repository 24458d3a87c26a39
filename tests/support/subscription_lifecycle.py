"""Helpers for subscription's lifecycle tests: plans, a paid subscription, the jobs run with the
test's clock, the payment provider's answers as events, and the rows to check."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from loyalty.commerce.v1 import events_pb2 as commerce
from loyalty.subscription.v1 import resources_pb2 as res
from loyalty.subscription.v1 import subscription_admin_service_pb2 as admin_pb
from loyalty.subscription.v1 import subscription_service_pb2 as pb
from loyalty.type.v1 import money_pb2
from services.subscription import jobs
from tests.support.ids import uid

SUCCEEDED = "commerce.payment.succeeded.v1"
FAILED = "commerce.payment.failed.v1"
CHARGE = "loyalty.subscription.charge.requested.v1"
CHARGE_CANCELLED = "loyalty.subscription.charge.cancelled.v1"
ACTIVATED = "loyalty.subscription.subscription.activated.v1"
RENEWED = "loyalty.subscription.subscription.renewed.v1"
RENEWAL_FAILED = "loyalty.subscription.subscription.renewal_failed.v1"
EXPIRED = "loyalty.subscription.subscription.expired.v1"
PLAN_CHANGED = "loyalty.subscription.subscription.plan_changed.v1"

START = dt.datetime(2026, 3, 10, 4, 30, tzinfo=dt.UTC)  # 12:30 in Asia/Shanghai
YEAR_END = START.replace(year=2027)  # a yearly term bought at START ends then
YEARLY_PRICE = 148_00
PREMIUM_PRICE = 248_00


def plan(plan_id: str, price: int, **fields: Any) -> res.Plan:
    values: dict[str, Any] = dict(
        plan_id=plan_id,
        display_name=plan_id.replace("_", " ").upper(),
        kind=res.PLAN_KIND_YEARLY,
        price=money_pb2.Money(currency_code="CNY", amount_minor=price),
        member_discount_bps=500,
        on_sale=True,
    )
    values.update(fields)
    return res.Plan(**values)


async def plans(admin, operator) -> None:
    """plus_yearly (148.00 CNY, 10×), plus_premium (248.00, 15×), plus_monthly (15.00)."""
    for made in (
        plan("plus_yearly", YEARLY_PRICE),
        plan("plus_premium", PREMIUM_PRICE, points_multiplier=15),
        plan("plus_monthly", 15_00, kind=res.PLAN_KIND_MONTHLY),
    ):
        await admin.CreatePlan(
            admin_pb.CreatePlanRequest(request_id=uid(), plan=made), metadata=operator
        )


async def confirm(subscription, checkout, order: res.SubscriptionOrder, payment_id: str = ""):
    return await subscription.ConfirmPayment(
        pb.ConfirmPaymentRequest(
            request_id=uid(),
            order_id=order.order_id,
            payment_id=payment_id or f"pay-{order.order_id}",
            amount=order.amount,
        ),
        metadata=checkout,
    )


async def subscribed(
    subscription, checkout, member: str | None = None, plan_id: str = "plus_yearly"
) -> res.Subscription:
    """A member's paid subscription, ACTIVE from now (the storefront took the payment)."""
    member = member or str(uuid.uuid4())
    made = await subscription.CreateSubscriptionOrder(
        pb.CreateSubscriptionOrderRequest(
            request_id=uid(),
            member_id=member,
            plan_id=plan_id,
            collection=res.PAYMENT_COLLECTION_STOREFRONT,
        ),
        metadata=checkout,
    )
    paid = await confirm(subscription, checkout, made.order)
    assert paid.subscription.state == res.SUBSCRIPTION_STATE_ACTIVE
    return paid.subscription


def payment(
    event: type, member: str, order_id: str, amount: int, payment_id: str = "", **fields: Any
):
    """The provider's answer to a charge (commerce.payment.succeeded or failed)."""
    return event(
        payment_id=payment_id or f"pay-{order_id}",
        member_id=member,
        purpose="subscription",
        reference_id=order_id,
        amount=money_pb2.Money(currency_code="CNY", amount_minor=amount),
        **fields,
    )


async def succeed(publish, member: str, order_id: str, amount: int, payment_id: str = "") -> str:
    return await publish(
        SUCCEEDED,
        order_id,
        payment(commerce.PaymentSucceeded, member, order_id, amount, payment_id),
    )


async def fail(publish, member: str, order_id: str, amount: int, reason="card_declined") -> str:
    answer = payment(commerce.PaymentFailed, member, order_id, amount, failure_reason=reason)
    return await publish(FAILED, order_id, answer)


async def renewals(app, now: dt.datetime) -> int:
    """The renewal job, run at `now`."""
    app.deps.clock.set(now)
    return await jobs.request_renewals(app.usecases, app.pool, now)


async def tick(app, now: dt.datetime) -> int:
    """The clock job (grace, expiry, lapsed orders), run at `now`."""
    app.deps.clock.set(now)
    return await jobs.apply_clock(app.usecases, app.pool, now)


async def sub_row(app, subscription_id: str):
    return await app.pool.fetchrow(
        "SELECT state, auto_renew, attempts, last_attempt_at, grace_until, ended_at, end_cause,"
        " order_id, period_end, renewal_plan_id FROM subscriptions WHERE subscription_id = $1",
        uuid.UUID(subscription_id),
    )


async def terms(app, subscription_id: str) -> list:
    return await app.pool.fetch(
        "SELECT sequence, plan_id, channel, start_time, end_time, paid_minor, order_id"
        " FROM terms WHERE subscription_id = $1 ORDER BY sequence",
        uuid.UUID(subscription_id),
    )


async def orders(app, subscription_id: str, kind: str | None = None) -> list:
    return await app.pool.fetch(
        "SELECT order_id, kind, state, amount_minor, charge_attempts, renews_end, expire_time,"
        " last_failure_reason, plan_id FROM orders WHERE subscription_id = $1"
        " AND ($2::text IS NULL OR kind = $2) ORDER BY create_time, order_id",
        uuid.UUID(subscription_id),
        kind,
    )


async def parked(app, order_id: str) -> list[str]:
    rows = await app.pool.fetch(
        "SELECT reason FROM parked_payments WHERE order_id = $1 ORDER BY park_time", order_id
    )
    return [r["reason"] for r in rows]


async def outbox_count(app, type_: str, subject: str) -> int:
    """Events of a type about a subject the service wrote (published or about to be)."""
    return await app.pool.fetchval(
        "SELECT count(*) FROM outbox WHERE event_type = $1 AND subject = $2", type_, subject
    )
