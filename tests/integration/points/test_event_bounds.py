"""Bounds on what events carry: an amount, multiplier or points figure out of range is
dead-lettered at once with its reason and changes nothing; within range, no sum overflows."""

from __future__ import annotations

import uuid

import pytest

from loyalty.commerce.v1 import events_pb2 as commerce
from loyalty.points.v1 import points_service_pb2 as pb
from loyalty.points.v1 import resources_pb2 as res
from loyalty.subscription.v1 import events_pb2 as subscription
from services.points import metrics
from tests.support.ids import uid
from tests.support.logs import malformed_reason
from tests.support.points import (
    COMPLETED,
    PAID,
    REFUNDED,
    assert_reconciled,
    completed,
    counted,
    dead_lettered,
    paid,
    refunded,
    rejected_at_once,
    reserve_request,
)

ACTIVATED = "loyalty.subscription.subscription.activated.v1"
INT64_MAX = 2**63 - 1


async def snapshot(points_app, member: str) -> tuple:
    pool = points_app.pool
    return (
        await pool.fetchval("SELECT count(*) FROM orders"),
        await pool.fetchval("SELECT count(*) FROM journal_transactions"),
        await pool.fetchval("SELECT count(*) FROM parked_events"),
        await pool.fetchrow(
            "SELECT available, pending, held, debt FROM member_accounts WHERE member_id = $1",
            uuid.UUID(member),
        ),
    )


OUT_OF_BOUNDS = {
    "paid amount 2^63-1": (dict(paid_amount_minor=INT64_MAX), "paid_amount_minor"),
    "paid amount over 10^12": (dict(paid_amount_minor=10**12 + 1), "paid_amount_minor"),
    "negative paid amount": (dict(paid_amount_minor=-1), "paid_amount_minor"),
    "negative points used": (dict(points_used=-5), "points_used"),
    "points used over 10^9": (dict(points_used=10**9 + 1), "points_used"),
    # 2,001 points (20.01 CNY) deducted from 20 CNY paid: more than 50% of 40.01 CNY.
    "points beyond the deduction share": (
        dict(paid_amount_minor=2_000, points_used=2_001),
        "points_used",
    ),
    "gift cards beyond the paid amount": (dict(gift_card_amount_minor=10_001), "gift_card"),
    "negative line amount": (
        dict(lines=[commerce.OrderLine(line_id="1", amount_minor=-1)]),
        "lines[0].amount_minor",
    ),
    "line amount 2^63-1": (
        dict(lines=[commerce.OrderLine(line_id="1", paid_amount_minor=INT64_MAX)]),
        "lines[0].paid_amount_minor",
    ),
    "negative quantity": (
        dict(lines=[commerce.OrderLine(line_id="1", quantity=-2)]),
        "lines[0].quantity",
    ),
    "no currency": (dict(currency_code=""), "currency_code"),
    "a currency that is no code": (dict(currency_code="C1Y"), "currency_code"),
}


@pytest.mark.parametrize(("fields", "field"), list(OUT_OF_BOUNDS.values()), ids=list(OUT_OF_BOUNDS))
async def test_an_order_paid_out_of_bounds_is_dead_lettered_at_once_and_changes_nothing(
    points, points_app, amqp, new_member, publish, consumed, log_capture, fields, field
):
    member = await new_member()
    before = await snapshot(points_app, member)
    order = f"o-{uid()[:8]}"
    sent = await publish(PAID, order, paid(order, member, 10_000, **fields))
    (message,) = await dead_lettered(amqp, points_app, "points.commerce", order)
    assert rejected_at_once(message)
    assert field in malformed_reason(log_capture, sent, "points")
    assert await snapshot(points_app, member) == before
    # The member's rebates still work.
    await publish(PAID, "o-next", paid("o-next", member, 10_000))
    await consumed(PAID)
    assert (await snapshot(points_app, member))[3]["pending"] == 100


async def test_a_paid_amount_of_2_63_mints_nothing_and_the_most_a_rebate_is_is_10_9(
    points, points_app, amqp, new_member, balance, publish, consumed
):
    member = await new_member()
    await publish(PAID, "o-max", paid("o-max", member, INT64_MAX))
    await dead_lettered(amqp, points_app, "points.commerce", "o-max")
    assert (await balance(member)).pending == 0
    # The largest order accepted (10^12 fen) with the largest multiplier: the rebate is cut to
    # 10^9 points, and later orders still add up.
    sub_id = uid()
    await publish(
        ACTIVATED,
        sub_id,
        subscription.SubscriptionActivated(
            subscription_id=sub_id, member_id=member, points_multiplier=100
        ),
    )
    await consumed(ACTIVATED)
    await publish(PAID, "o-big", paid("o-big", member, 10**12))
    await publish(PAID, "o-small", paid("o-small", member, 100))
    await consumed(PAID, 2)
    assert (await balance(member)).pending == 10**9 + 100
    note = await points_app.pool.fetchval("SELECT rebate_note FROM orders WHERE order_id = 'o-big'")
    assert note == "AT_MAXIMUM"
    await publish(COMPLETED, "o-big", completed("o-big", member))
    await consumed(COMPLETED)
    b = await balance(member)
    assert (b.available, b.pending) == (10**9, 100)
    await assert_reconciled(points_app.pool)


@pytest.mark.parametrize("multiplier", [2**31 - 1, 101, -3])
async def test_a_forged_multiplier_is_dead_lettered_and_the_rebate_stays_plain(
    points, points_app, amqp, new_member, balance, publish, consumed, log_capture, multiplier
):
    member = await new_member()
    sub_id = uid()
    sent = await publish(
        ACTIVATED,
        sub_id,
        subscription.SubscriptionActivated(
            subscription_id=sub_id, member_id=member, points_multiplier=multiplier
        ),
    )
    (message,) = await dead_lettered(amqp, points_app, "points.subscription", sub_id)
    assert rejected_at_once(message)
    assert "points_multiplier" in malformed_reason(log_capture, sent, "points")
    assert await points_app.pool.fetchval("SELECT count(*) FROM subscriptions") == 0
    await publish(PAID, "o-100", paid("o-100", member, 10_000))  # 100 CNY
    await consumed(PAID)
    assert (await balance(member)).pending == 100


async def test_a_huge_multiplier_kept_from_before_the_bounds_counts_as_100(
    points, points_app, new_member, balance, publish, consumed
):
    member = await new_member()
    await points_app.pool.execute(
        "INSERT INTO subscriptions (subscription_id, member_id, state, multiplier)"
        " VALUES ('old-forged', $1, 'active', $2)",
        uuid.UUID(member),
        2**31 - 1,
    )
    await publish(PAID, "o-100", paid("o-100", member, 10_000))
    await consumed(PAID)
    assert (await balance(member)).pending == 100 * 100


async def test_refunds_never_total_more_than_was_paid(
    points, points_app, amqp, operator, new_member, balance, publish, consumed, log_capture
):
    member = await new_member()
    await publish(PAID, "o-r", paid("o-r", member, 10_000))
    await publish(REFUNDED, "o-r", refunded("o-r", member, 6_000, "rf-1"))
    await consumed(REFUNDED)
    assert (await balance(member)).pending == 40
    over = await publish(REFUNDED, "o-r", refunded("o-r", member, 4_001, "rf-2"))
    usd = await publish(REFUNDED, "o-r", refunded("o-r", member, 100, "rf-3", currency_code="USD"))
    negative = await publish(
        REFUNDED, "o-r", refunded("o-r", member, 100, "rf-4", points_to_return=-1)
    )
    huge = await publish(REFUNDED, "o-r", refunded("o-r", member, INT64_MAX, "rf-5"))
    letters = await dead_lettered(amqp, points_app, "points.commerce", "o-r")
    while len(letters) < 4:
        letters += await dead_lettered(amqp, points_app, "points.commerce", "o-r")
    assert all(rejected_at_once(m) for m in letters)
    assert "more than was paid: 4000 of 10000" in malformed_reason(log_capture, over, "points")
    assert "currency_code" in malformed_reason(log_capture, usd, "points")
    assert "points_to_return" in malformed_reason(log_capture, negative, "points")
    assert "refunded_amount_minor" in malformed_reason(log_capture, huge, "points")
    refunds = await points_app.pool.fetch("SELECT refund_id FROM order_refunds")
    assert [r["refund_id"] for r in refunds] == ["rf-1"]
    await publish(REFUNDED, "o-r", refunded("o-r", member, 4_000, "rf-6"))
    await consumed(REFUNDED, 2)
    assert (await balance(member)).pending == 0
    order = (await points.GetOrder(pb.GetOrderRequest(order_id="o-r"), metadata=operator)).order
    assert order.payment.refunded_amount_minor == 10_000
    assert [r.state for r in order.refunds] == [res.ORDER_REFUND_STATE_APPLIED] * 2
    await assert_reconciled(points_app.pool)


async def test_a_refund_before_its_payment_that_exceeds_it_is_refused_when_it_arrives(
    points, points_app, operator, new_member, fund, balance, publish, consumed
):
    member = await new_member()
    await fund(member, 500)
    hold = (
        await points.ReserveHold(reserve_request(member, 100, "o-w", 20_000), metadata=operator)
    ).hold
    before = counted(metrics.REFUNDS_REFUSED, "REFUND_EXCEEDS_PAYMENT")
    await publish(REFUNDED, "o-w", refunded("o-w", member, 30_000, "rf-big", points_to_return=100))
    await publish(REFUNDED, "o-w", refunded("o-w", member, 5_000, "rf-ok"))
    await consumed(REFUNDED, 2)
    await publish(PAID, "o-w", paid("o-w", member, 19_000, hold.hold_id, 100))
    await consumed(PAID)
    b = await balance(member)
    # The payment applied: hold captured, rebate 190 with 50 reversed by the refund that fits.
    assert (b.available, b.held, b.pending) == (400, 0, 140)
    assert counted(metrics.REFUNDS_REFUSED, "REFUND_EXCEEDS_PAYMENT") == before + 1
    order = (await points.GetOrder(pb.GetOrderRequest(order_id="o-w"), metadata=operator)).order
    states = {r.refund_id: (r.state, r.refused_reason) for r in order.refunds}
    assert states == {
        "rf-big": (res.ORDER_REFUND_STATE_REFUSED, "REFUND_EXCEEDS_PAYMENT"),
        "rf-ok": (res.ORDER_REFUND_STATE_APPLIED, ""),
    }
    await assert_reconciled(points_app.pool)
