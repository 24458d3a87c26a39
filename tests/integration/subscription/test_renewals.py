"""The renewal job: two runs at once charge each subscription once; retries stop after three
attempts; duplicate and late answers change nothing; the fake payment provider (outside the
suite) answers the charges by its rule, against the real broker."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import pytest

from loyalty.subscription.v1 import events_pb2 as ev
from loyalty.subscription.v1 import subscription_service_pb2 as pb
from loyalty.type.v1 import money_pb2
from services.subscription import jobs
from tests.support import servers
from tests.support.subscription_lifecycle import (
    CHARGE,
    FAILED,
    RENEWAL_FAILED,
    RENEWED,
    START,
    SUCCEEDED,
    YEAR_END,
    YEARLY_PRICE,
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
)
from tests.support.waiting import wait_until
from tools.fake_payment_provider import FakePaymentProvider, Rule

DAY = dt.timedelta(days=1)


async def test_two_runs_at_once_charge_each_subscription_once(
    subscription, admin, operator, checkout, clock, subscription_app, monkeypatch
):
    app = subscription_app
    clock.set(START)
    await plans(admin, operator)
    subs = [await subscribed(subscription, checkout) for _ in range(12)]
    # Small batches, so that the two runs take turns and meet on the same rows.
    monkeypatch.setattr(app.deps.settings, "job_batch", 2)
    due = YEAR_END - DAY
    app.deps.clock.set(due)
    counts = await asyncio.gather(
        jobs.request_renewals(app.usecases, app.pool, due),
        jobs.request_renewals(app.usecases, app.pool, due),
    )
    assert sum(counts) == len(subs)
    for sub in subs:
        (renewal,) = await orders(app, sub.subscription_id, "renewal")
        assert renewal["charge_attempts"] == 1
        assert await outbox_count(app, CHARGE, str(renewal["order_id"])) == 1
        assert (await sub_row(app, sub.subscription_id))["attempts"] == 1
    # And again, both at once, a day later: one retry each.
    retry = due + DAY
    app.deps.clock.set(retry)
    counts = await asyncio.gather(
        jobs.request_renewals(app.usecases, app.pool, retry),
        jobs.request_renewals(app.usecases, app.pool, retry),
    )
    assert sum(counts) == len(subs)
    for sub in subs:
        (renewal,) = await orders(app, sub.subscription_id, "renewal")
        assert renewal["charge_attempts"] == 2
        assert await outbox_count(app, CHARGE, str(renewal["order_id"])) == 2


async def test_retries_stop_after_three_attempts_and_grace_ends_them(
    subscription, admin, operator, checkout, clock, publish, consumed, tap, subscription_app
):
    app = subscription_app
    clock.set(START)
    await plans(admin, operator)
    sub = await subscribed(subscription, checkout)
    sid, member = sub.subscription_id, sub.member_id
    assert await renewals(app, YEAR_END - DAY) == 1
    (renewal,) = await orders(app, sid, "renewal")
    order_id = str(renewal["order_id"])
    await fail(publish, member, order_id, YEARLY_PRICE, reason="insufficient_funds")
    await consumed(FAILED)
    assert await renewals(app, YEAR_END) == 1  # attempt 2
    assert await renewals(app, YEAR_END + DAY) == 1  # attempt 3
    assert await renewals(app, YEAR_END + 2 * DAY) == 0  # no fourth
    (renewal,) = await orders(app, sid, "renewal")
    assert renewal["charge_attempts"] == 3
    charges = await tap.wait_for(CHARGE, order_id, count=3)
    assert [c.data["attempt"] for c in charges] == [1, 2, 3]
    assert len({c.data["chargeId"] for c in charges}) == 3  # each its own idempotency key
    assert await outbox_count(app, RENEWAL_FAILED, sid) == 1


async def test_duplicate_and_late_answers_change_nothing(
    subscription, admin, operator, checkout, clock, publish, consumed, tap, subscription_app
):
    app = subscription_app
    clock.set(START)
    await plans(admin, operator)
    sub = await subscribed(subscription, checkout)
    sid, member = sub.subscription_id, sub.member_id
    await renewals(app, YEAR_END - DAY)
    (renewal,) = await orders(app, sid, "renewal")
    order_id = str(renewal["order_id"])
    await succeed(publish, member, order_id, YEARLY_PRICE, payment_id="pay-r1")
    await succeed(publish, member, order_id, YEARLY_PRICE, payment_id="pay-r1")  # redelivered
    await consumed(SUCCEEDED, 2)
    await succeed(publish, member, order_id, YEARLY_PRICE, payment_id="pay-r2")  # charged twice
    await fail(publish, member, order_id, YEARLY_PRICE)  # a failure answered late
    await consumed(SUCCEEDED, 3)
    await consumed(FAILED)
    row = await sub_row(app, sid)
    assert (row["state"], row["period_end"]) == ("active", YEAR_END.replace(year=2028))
    assert [t["channel"] for t in await terms(app, sid)] == ["purchase", "renewal"]
    (renewal,) = await orders(app, sid, "renewal")
    assert (renewal["state"], renewal["last_failure_reason"]) == ("paid", "")
    assert await parked(app, order_id) == ["ALREADY_PAID"]
    await tap.wait_for(RENEWED, sid)
    assert await outbox_count(app, RENEWED, sid) == 1
    assert await outbox_count(app, RENEWAL_FAILED, sid) == 0
    # The storefront confirming the same payment returns the order as it is.
    again = await subscription.ConfirmPayment(
        pb.ConfirmPaymentRequest(
            request_id=str(uuid.uuid4()),
            order_id=order_id,
            payment_id="pay-r1",
            amount=sub.renewal_price,
        ),
        metadata=checkout,
    )
    assert len(again.subscription.terms) == 2


async def test_the_fake_payment_provider_answers_charges_by_its_rule(
    subscription, admin, operator, checkout, clock, subscription_app
):
    app = subscription_app
    clock.set(START)
    await plans(admin, operator)
    paying = await subscribed(subscription, checkout)
    declined = await subscribed(subscription, checkout)
    names = servers.broker_settings()
    provider = FakePaymentProvider(
        servers.publisher_urls()["commerce"],  # as the storefront's broker user
        Rule.parse(f"fail-members={declined.member_id}"),
        events_exchange=names["events_exchange"],
        commerce_exchange=names["commerce_exchange"],
        queue_prefix=names["queue_prefix"],
    )
    await provider.start()
    try:
        app.deps.clock.set(YEAR_END - DAY + dt.timedelta(hours=1))
        assert await renewals(app, YEAR_END - DAY) == 2

        async def answered() -> bool:
            rows = [await sub_row(app, s.subscription_id) for s in (paying, declined)]
            return [r["state"] for r in rows] == ["active", "grace"] and rows[0]["attempts"] == 0

        await wait_until(answered, 10, "the fake provider's answers to be applied")
    finally:
        await provider.stop(delete_queue=True)
    (paid,) = await orders(app, paying.subscription_id, "renewal")
    assert paid["state"] == "paid"
    assert (await sub_row(app, paying.subscription_id))["period_end"] == YEAR_END.replace(year=2028)
    (refused,) = await orders(app, declined.subscription_id, "renewal")
    assert (refused["state"], refused["last_failure_reason"]) == (
        "pending_payment",
        "card_declined",
    )
    assert sorted(provider.answered.values()) == [FAILED, SUCCEEDED]


def test_the_fake_providers_rules():
    def charge(member: str = "m", amount: int = 100, attempt: int = 1) -> ev.ChargeRequested:
        return ev.ChargeRequested(
            member_id=member,
            attempt=attempt,
            amount=money_pb2.Money(currency_code="CNY", amount_minor=amount),
        )

    assert not Rule.parse("succeed").fails(charge())
    assert Rule.parse("fail").fails(charge())
    above = Rule.parse("fail-above=100")
    assert (above.fails(charge(amount=100)), above.fails(charge(amount=101))) == (False, True)
    both = Rule.parse("fail-members=a,b; fail-attempts=1")
    assert both.fails(charge("b", attempt=2)) and both.fails(charge("c", attempt=1))
    assert not both.fails(charge("c", attempt=2))
    for bad in ("fail-above=x", "sometimes", "fail=1"):
        with pytest.raises(ValueError):
            Rule.parse(bad)
