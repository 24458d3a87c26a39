"""Storefront events points parks instead of applying: events of a member it has not seen
registered (they wait for member.registered, then apply, or are given up), payments naming a
hold that does not fit, orders in a currency points does not earn on."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest

from loyalty.commerce.v1 import events_pb2 as commerce
from loyalty.identity.v1 import events_pb2 as identity
from loyalty.points.v1 import points_service_pb2 as pb
from loyalty.points.v1 import resources_pb2 as res
from services.points import jobs, metrics
from tests.support import cli
from tests.support.ids import uid
from tests.support.points import (
    COMPLETED,
    PAID,
    REFUNDED,
    REGISTERED,
    REVIEW,
    assert_reconciled,
    completed,
    counted,
    paid,
    refunded,
    reserve_request,
)

T0 = dt.datetime(2025, 3, 1, 4, 0, tzinfo=dt.UTC)


async def get_order(points, operator, order_id: str) -> res.Order:
    return (await points.GetOrder(pb.GetOrderRequest(order_id=order_id), metadata=operator)).order


async def accounts(points_app, member: str) -> int:
    return await points_app.pool.fetchval(
        "SELECT count(*) FROM member_accounts WHERE member_id = $1", uuid.UUID(member)
    )


async def test_events_of_an_unknown_member_wait_for_registration_then_apply_in_order(
    points, points_app, operator, mint, balance, publish, consumed, clock, tap
):
    clock.set(T0)
    member = uid()  # identity never told points about this member (yet)
    waiting_before = counted(metrics.EVENTS_PARKED, "MEMBER_UNKNOWN")
    await publish(PAID, "o-u", paid("o-u", member, 12_300))
    await publish(COMPLETED, "o-u", completed("o-u", member))
    await publish(REVIEW, member, commerce.ReviewPosted(review_id="rv-u", member_id=member))
    await consumed(PAID)
    await consumed(COMPLETED)
    await consumed(REVIEW)
    # Nothing applied, no account created: the events wait, with their reason.
    assert await accounts(points_app, member) == 0
    assert await points_app.pool.fetchval("SELECT count(*) FROM orders") == 0
    assert counted(metrics.EVENTS_PARKED, "MEMBER_UNKNOWN") == waiting_before + 3
    order = await get_order(points, operator, "o-u")
    assert order.member_id == member and not order.HasField("payment")
    assert [(e.event_type, e.state, e.reason) for e in order.parked_events] == [
        (PAID, res.PARKED_EVENT_STATE_WAITING_FOR_MEMBER, "MEMBER_UNKNOWN"),
        (COMPLETED, res.PARKED_EVENT_STATE_WAITING_FOR_MEMBER, "MEMBER_UNKNOWN"),
    ]
    assert order.parked_events[0].give_up_time.ToDatetime(dt.UTC) == T0 + dt.timedelta(hours=24)
    # The member's own token sees its order too (its registration may just be late).
    assert (await get_order(points, mint(member), "o-u")).parked_events == order.parked_events
    code, out, _ = await cli.run(points_app, "parked")
    assert code == 0
    listed = json.loads(out)
    assert listed["open"]["waiting"] == 3
    assert {e["event_type"] for e in listed["events"]} == {PAID, COMPLETED, REVIEW}

    clock.set(T0 + dt.timedelta(hours=23))
    applied_before = counted(metrics.PARKED_SETTLED, "MEMBER_UNKNOWN", "applied")
    await publish(REGISTERED, member, identity.MemberRegistered(member_id=member))
    await consumed(REGISTERED)
    b = await balance(member)
    # sign-up bonus 100 + the rebate of 123 CNY, completed + the review's 20.
    assert (b.available, b.pending) == (100 + 123 + 20, 0)
    assert counted(metrics.PARKED_SETTLED, "MEMBER_UNKNOWN", "applied") == applied_before + 3
    order = await get_order(points, operator, "o-u")
    assert order.payment.paid_amount_minor == 12_300
    assert (order.rebate.state, order.rebate.points) == (res.REBATE_STATE_AVAILABLE, 123)
    assert [e.state for e in order.parked_events] == [res.PARKED_EVENT_STATE_APPLIED] * 2
    credited = await tap.wait_for("loyalty.points.points.credited.v1", member, count=4)
    assert sorted(e.data["kind"] for e in credited) == [
        "LEDGER_ENTRY_KIND_CREDIT",
        "LEDGER_ENTRY_KIND_CREDIT",
        "LEDGER_ENTRY_KIND_PENDING_CONFIRM",
        "LEDGER_ENTRY_KIND_PENDING_CREDIT",
    ]
    # Events of a registered member apply at once.
    await publish(PAID, "o-u2", paid("o-u2", member, 1_000))
    await consumed(PAID, 2)
    assert (await balance(member)).pending == 10
    await assert_reconciled(points_app.pool)


async def test_events_of_a_member_who_never_registers_are_given_up_after_the_wait(
    points, points_app, operator, balance, publish, consumed, clock
):
    clock.set(T0)
    member = uid()
    await publish(PAID, "o-g", paid("o-g", member, 5_000))
    await consumed(PAID)
    given_up_before = counted(metrics.PARKED_SETTLED, "MEMBER_UNKNOWN", "given_up")
    uc, pool = points_app.usecases, points_app.pool
    assert await jobs.give_up_parked(uc, pool, T0 + dt.timedelta(hours=23, minutes=59)) == 0
    assert counted(metrics.PARKED_OPEN, "waiting") == 1
    assert await jobs.give_up_parked(uc, pool, T0 + dt.timedelta(hours=24)) == 1
    assert await jobs.give_up_parked(uc, pool, T0 + dt.timedelta(hours=25)) == 0  # idempotent
    assert counted(metrics.PARKED_SETTLED, "MEMBER_UNKNOWN", "given_up") == given_up_before + 1
    assert counted(metrics.PARKED_OPEN, "waiting") == 0
    order = await get_order(points, operator, "o-g")
    (event,) = order.parked_events
    assert (event.state, event.reason) == (res.PARKED_EVENT_STATE_GIVEN_UP, "MEMBER_UNKNOWN")
    assert event.settle_time.ToDatetime(dt.UTC) == T0 + dt.timedelta(hours=24)
    assert await accounts(points_app, member) == 0
    # The member registers too late: the given-up payment is not applied.
    await publish(REGISTERED, member, identity.MemberRegistered(member_id=member))
    await consumed(REGISTERED)
    b = await balance(member)
    assert (b.available, b.pending) == (100, 0)


async def test_a_waiting_event_refused_when_its_member_arrives_is_kept_with_why(
    points, points_app, operator, balance, publish, consumed
):
    member = uid()
    await publish(PAID, "o-x", paid("o-x", member, 10_000))
    await publish(REFUNDED, "o-x", refunded("o-x", member, 10_001, "rf-x"))
    await consumed(REFUNDED)
    await publish(REGISTERED, member, identity.MemberRegistered(member_id=member))
    await consumed(REGISTERED)
    b = await balance(member)
    assert (b.available, b.pending) == (100, 100)  # the payment applied, the refund did not
    parked = await points_app.pool.fetch(
        "SELECT kind, state, settle_reason FROM parked_events ORDER BY parked_id"
    )
    assert [(p["kind"], p["state"]) for p in parked] == [
        ("order.paid", "applied"),
        ("order.refunded", "refused"),
    ]
    assert "more than was paid" in parked[1]["settle_reason"]
    await assert_reconciled(points_app.pool)


@pytest.fixture
async def shop(points, operator, new_member, fund):
    """Two members with 1,000 points each, and a hold of 200 points of A's order o-a."""
    a, b = await new_member(), await new_member()
    await fund(a, 1_000)
    await fund(b, 1_000)
    hold = (await points.ReserveHold(reserve_request(a, 200, "o-a"), metadata=operator)).hold
    return a, b, hold.hold_id


UNFIT = {
    "another member's hold": ("b", "o-b", "hold", 200, "HOLD_OF_ANOTHER_MEMBER"),
    "a hold of another order": ("a", "o-a2", "hold", 200, "HOLD_OF_ANOTHER_ORDER"),
    "another amount": ("a", "o-a", "hold", 150, "HOLD_AMOUNT_MISMATCH"),
    "no points used with a hold": ("a", "o-a", "hold", 0, "HOLD_AMOUNT_MISMATCH"),
    "a hold points does not know": ("a", "o-a", "unknown", 200, "HOLD_NOT_FOUND"),
    "points used without a hold": ("a", "o-a", "", 200, "HOLD_MISSING"),
}


@pytest.mark.parametrize(
    ("payer", "order_id", "which", "used", "reason"), list(UNFIT.values()), ids=list(UNFIT)
)
async def test_a_payment_whose_hold_does_not_fit_is_parked_not_applied(
    points,
    points_app,
    operator,
    mint,
    shop,
    balance,
    publish,
    consumed,
    tap,
    payer,
    order_id,
    which,
    used,
    reason,
):
    a, b, hold_id = shop
    member = a if payer == "a" else b
    named = {"hold": hold_id, "unknown": str(uuid.uuid4()), "": ""}[which]
    before = counted(metrics.EVENTS_PARKED, reason)
    await publish(PAID, order_id, paid(order_id, member, 10_000, named, used))
    await consumed(PAID)
    # Not applied: A's hold still held, no rebate, the order not paid.
    assert ((await balance(a)).held, (await balance(a)).pending) == (200, 0)
    assert (await balance(b)).pending == 0
    assert counted(metrics.EVENTS_PARKED, reason) == before + 1
    order = await get_order(points, mint(member), order_id)  # the member's own token
    assert not order.HasField("payment") and order.rebate.state == res.REBATE_STATE_NONE
    (event,) = order.parked_events
    assert (event.state, event.reason) == (res.PARKED_EVENT_STATE_HELD, reason)
    assert event.description
    assert not tap.envelopes("loyalty.points.points.debited.v1", a)


async def test_a_corrected_payment_is_applied_and_supersedes_the_parked_one(
    points, points_app, operator, shop, balance, publish, consumed
):
    a, _, hold_id = shop
    await publish(PAID, "o-a", paid("o-a", a, 10_000, hold_id, 150))  # wrong amount
    await consumed(PAID)
    await publish(COMPLETED, "o-a", completed("o-a", a))  # waits for a payment
    await consumed(COMPLETED)
    await publish(PAID, "o-a", paid("o-a", a, 10_000, hold_id, 200))
    await consumed(PAID, 2)
    b = await balance(a)
    assert (b.available, b.held, b.pending) == (800 + 100, 0, 0)
    order = await get_order(points, operator, "o-a")
    assert order.payment.points_captured == 200
    assert [h.state for h in order.holds] == [res.HOLD_STATE_CAPTURED]
    (event,) = order.parked_events
    assert (event.state, event.reason) == (
        res.PARKED_EVENT_STATE_SUPERSEDED,
        "HOLD_AMOUNT_MISMATCH",
    )
    await assert_reconciled(points_app.pool)


async def test_an_order_in_a_currency_points_does_not_earn_on_is_parked(
    points, points_app, operator, new_member, balance, publish, consumed
):
    member = await new_member()
    before = counted(metrics.EVENTS_PARKED, "CURRENCY_NOT_EARNING")
    await publish(PAID, "o-usd", paid("o-usd", member, 10_000, currency_code="usd"))
    await consumed(PAID)
    assert (await balance(member)).pending == 0
    assert counted(metrics.EVENTS_PARKED, "CURRENCY_NOT_EARNING") == before + 1
    (event,) = (await get_order(points, operator, "o-usd")).parked_events
    assert (event.state, event.reason) == (res.PARKED_EVENT_STATE_HELD, "CURRENCY_NOT_EARNING")
    assert "USD" in event.description
