"""Operators' subscription calls: ListSubscriptions (newest first, paged, filtered),
GrantSubscription (a gift, audited, never renewing; stacked on a live subscription), and
ListParkedPayments (payments nobody could apply)."""

from __future__ import annotations

import datetime as dt
import uuid

import grpc
from google.protobuf import timestamp_pb2

from loyalty.commerce.v1 import events_pb2 as commerce
from loyalty.identity.v1 import events_pb2 as identity
from loyalty.subscription.v1 import resources_pb2 as res
from loyalty.subscription.v1 import subscription_admin_service_pb2 as admin_pb
from loyalty.subscription.v1 import subscription_service_pb2 as pb
from tests.support.grpc_errors import fails
from tests.support.ids import uid
from tests.support.snapshots import snapshot
from tests.support.subscription_choices import (
    ACTIVATED,
    FROZEN,
    RENEWED,
    START,
    buy,
    cny,
    get,
    plans,
    refund,
    start_trial,
    trial,
    yearly,
)

SUCCEEDED = "commerce.payment.succeeded.v1"
INVALID = grpc.StatusCode.INVALID_ARGUMENT
PRECONDITION = grpc.StatusCode.FAILED_PRECONDITION


def stamp(at: dt.datetime) -> timestamp_pb2.Timestamp:
    value = timestamp_pb2.Timestamp()
    value.FromDatetime(at)
    return value


async def listing(admin, operator, **fields) -> admin_pb.ListSubscriptionsResponse:
    return await admin.ListSubscriptions(
        admin_pb.ListSubscriptionsRequest(**fields), metadata=operator
    )


async def ids(admin, operator, **fields) -> list[str]:
    return [s.subscription_id for s in (await listing(admin, operator, **fields)).subscriptions]


async def grant(admin, operator, member: str, plan_id: str = "plus_yearly", reason="apology"):
    return await admin.GrantSubscription(
        admin_pb.GrantSubscriptionRequest(
            request_id=uid(), member_id=member, plan_id=plan_id, reason=reason
        ),
        metadata=operator,
    )


async def test_subscriptions_are_listed_newest_first_paged_and_filtered(
    subscription, admin, operator, mint, checkout, clock
):
    clock.set(START)
    await plans(admin, operator)
    members = [str(uuid.uuid4()) for _ in range(5)]
    made = [(await buy(subscription, checkout, members[0], "pay-a")).subscription]
    clock.advance(hours=1)
    made.append((await start_trial(subscription, checkout, members[1])).subscription)
    clock.advance(hours=1)
    pending = await subscription.CreateSubscriptionOrder(
        pb.CreateSubscriptionOrderRequest(
            request_id=uid(), member_id=members[2], plan_id="plus_yearly"
        ),
        metadata=checkout,
    )
    made.append(pending.subscription)
    clock.advance(hours=1)
    made.append((await buy(subscription, checkout, members[3], "pay-d")).subscription)
    clock.advance(minutes=1)
    await refund(admin, operator, made[3].subscription_id)
    clock.advance(hours=1)
    made.append((await grant(admin, operator, members[4])).subscription)
    a, b, c, d, e = (s.subscription_id for s in made)

    pages, token = [], ""
    while True:
        page = await listing(admin, operator, page_size=2, page_token=token)
        pages.append([s.subscription_id for s in page.subscriptions])
        token = page.next_page_token
        if not token:
            break
    assert pages == [[e, d], [c, b], [a]]

    assert await ids(admin, operator, member_id=members[0]) == [a]
    active = res.SUBSCRIPTION_STATE_ACTIVE
    assert await ids(admin, operator, state=active) == [e, b, a]
    assert await ids(admin, operator, state=res.SUBSCRIPTION_STATE_REFUNDED) == [d]
    assert await ids(admin, operator, plan_id="plus_trial") == [b]
    assert await ids(admin, operator, plan_id="plus_yearly") == [e, d, c, a]
    assert await ids(admin, operator, state=active, plan_id="plus_yearly") == [e, a]
    # The trial ends 7 days after it started; a pending order holds no time yet.
    soon = stamp(START + dt.timedelta(days=8))
    assert await ids(admin, operator, period_end_before=soon) == [b]

    first = await listing(admin, operator, page_size=1, state=active)
    assert [s.subscription_id for s in first.subscriptions] == [e]
    second = await listing(
        admin, operator, page_size=1, state=active, page_token=first.next_page_token
    )
    assert [s.subscription_id for s in second.subscriptions] == [b]
    await fails(
        listing(admin, operator, page_size=1, page_token=first.next_page_token),
        INVALID,
        None,
        ["page_token"],
    )
    await fails(
        listing(admin, operator, page_size=-1, member_id="someone", state=99),
        INVALID,
        "INVALID_ARGUMENT",
        ["page_size", "member_id", "state"],
    )
    await fails(listing(admin, operator, plan_id="a\nb"), INVALID, None, ["plan_id"])
    await fails(
        listing(admin, mint(members[0]), member_id=members[0]),
        grpc.StatusCode.PERMISSION_DENIED,
        "MISSING_SCOPE",
    )


async def test_an_operator_gives_a_period_audited_and_it_never_renews(
    subscription, admin, operator, mint, clock, tap, subscription_app
):
    clock.set(START)
    await plans(admin, operator, yearly(), yearly("old_yearly", on_sale=False))
    member = str(uuid.uuid4())
    given = await grant(admin, operator, member, reason="late delivery, compensation")
    sub = given.subscription
    assert sub.state == res.SUBSCRIPTION_STATE_ACTIVE and not sub.auto_renew
    assert sub.renewal_plan_id == ""
    assert given.term.source == res.TERM_SOURCE_GIFT and given.term.value.amount_minor == 0
    assert given.term == sub.terms[-1]
    assert (await get(subscription, mint(member), sub.subscription_id)).state == sub.state
    (activated,) = await tap.wait_for(ACTIVATED, sub.subscription_id)
    assert activated.data["source"] == "TERM_SOURCE_GIFT"
    audit = await subscription_app.pool.fetchrow(
        "SELECT actor, detail FROM audit_log WHERE action = 'subscription.grant' AND subject = $1",
        sub.subscription_id,
    )
    assert audit["actor"] == "operator:ops-alice"
    assert audit["detail"]["reason"] == "late delivery, compensation"
    assert audit["detail"]["plan_id"] == "plus_yearly"

    # Another gift, of a plan no longer sold, stacks a term after the first.
    again = await grant(admin, operator, member, plan_id="old_yearly")
    assert again.subscription.subscription_id == sub.subscription_id
    assert [t.source for t in again.subscription.terms] == [res.TERM_SOURCE_GIFT] * 2
    assert again.subscription.period_end.ToDatetime(dt.UTC) == START.replace(year=2027)
    (renewed,) = await tap.wait_for(RENEWED, sub.subscription_id)
    assert renewed.data["source"] == "TERM_SOURCE_GIFT"
    assert renewed.data["periodStart"] == "2026-01-10T00:00:00Z"


async def test_a_gift_is_refused_where_the_contract_says_and_changes_nothing(
    subscription, admin, operator, mint, publish, consumed, subscription_app
):
    await plans(admin, operator, yearly(), trial())
    frozen, member = str(uuid.uuid4()), str(uuid.uuid4())
    await publish(FROZEN, frozen, identity.MemberFrozen(member_id=frozen, reason="risk"))
    await consumed(FROZEN)
    pool = subscription_app.pool
    before = await snapshot(
        pool, "subscriptions", "terms", "audit_log", outbox="SELECT id FROM outbox"
    )
    await fails(grant(admin, operator, member, reason=" "), INVALID, "REASON_REQUIRED", ["reason"])
    await fails(
        grant(admin, operator, "nobody", plan_id="", reason="x" * 513),
        INVALID,
        "INVALID_ARGUMENT",
        ["member_id", "plan_id", "reason"],
    )
    await fails(grant(admin, operator, member, plan_id="plus_trial"), PRECONDITION, "PLAN_IS_TRIAL")
    await fails(
        grant(admin, operator, member, plan_id="nope"), grpc.StatusCode.NOT_FOUND, "PLAN_NOT_FOUND"
    )
    await fails(grant(admin, operator, frozen), PRECONDITION, "MEMBER_FROZEN")
    await fails(
        grant(admin, mint(member), member), grpc.StatusCode.PERMISSION_DENIED, "MISSING_SCOPE"
    )
    after = await snapshot(
        pool, "subscriptions", "terms", "audit_log", outbox="SELECT id FROM outbox"
    )
    assert after == before


async def test_parked_payments_are_listed_newest_first_and_filtered(
    subscription, admin, operator, checkout, clock, publish, consumed
):
    await plans(admin, operator)
    member = str(uuid.uuid4())
    made = await subscription.CreateSubscriptionOrder(
        pb.CreateSubscriptionOrderRequest(
            request_id=uid(), member_id=member, plan_id="plus_yearly"
        ),
        metadata=checkout,
    )
    unknown = str(uuid.uuid4())
    payments = [
        (unknown, "pay-1", 148_00),  # no such order
        (made.order.order_id, "pay-2", 1_00),  # not the order's amount
        ("not-an-order", "pay-3", 148_00),  # no order id at all
    ]
    events = []
    for i, (order_ref, payment_id, amount) in enumerate(payments, start=1):
        clock.set(START + dt.timedelta(minutes=i))
        paid = commerce.PaymentSucceeded(
            payment_id=payment_id,
            member_id=member,
            purpose="subscription",
            reference_id=order_ref,
            amount=cny(amount),
        )
        events.append(await publish(SUCCEEDED, order_ref, paid))
        await consumed(SUCCEEDED, i)

    async def parked(**fields) -> admin_pb.ListParkedPaymentsResponse:
        return await admin.ListParkedPayments(
            admin_pb.ListParkedPaymentsRequest(**fields), metadata=operator
        )

    first = await parked(page_size=2)
    rest = await parked(page_size=2, page_token=first.next_page_token)
    assert rest.next_page_token == ""
    found = [*first.payments, *rest.payments]
    assert [p.event_id for p in found] == events[::-1]
    assert [(p.payment_id, p.reason) for p in found] == [
        ("pay-3", "ORDER_NOT_FOUND"),
        ("pay-2", "AMOUNT_MISMATCH"),
        ("pay-1", "ORDER_NOT_FOUND"),
    ]
    mismatch = found[1]
    assert (mismatch.order_id, mismatch.member_id) == (made.order.order_id, member)
    assert mismatch.amount == cny(1_00) and mismatch.description
    assert mismatch.park_time.ToDatetime(dt.UTC) == START + dt.timedelta(minutes=2)
    by_reason = await parked(reason="ORDER_NOT_FOUND")
    assert [p.payment_id for p in by_reason.payments] == ["pay-3", "pay-1"]
    by_order = await parked(order_id=made.order.order_id)
    assert [p.payment_id for p in by_order.payments] == ["pay-2"]
    await fails(
        parked(page_size=-5, reason="\x00", order_id="o" * 129),
        INVALID,
        None,
        ["page_size", "reason", "order_id"],
    )
    await fails(parked(page_token="garbage"), INVALID, None, ["page_token"])
