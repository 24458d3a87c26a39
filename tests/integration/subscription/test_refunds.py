"""Refunds through the operators' RPCs, on the worked examples of RefundSubscription's comment
with the clock set: in full within the cooling-off period with nothing used, pro rata after,
less the benefits claimed, stacked terms; the quote is what the refund pays; a refund ends the
subscription and is refused the second time, changing nothing."""

from __future__ import annotations

import datetime as dt
import uuid

import grpc

from loyalty.subscription.v1 import resources_pb2 as res
from loyalty.subscription.v1 import subscription_admin_service_pb2 as admin_pb
from loyalty.subscription.v1 import subscription_service_pb2 as pb
from tests.support.grpc_errors import fails
from tests.support.ids import uid
from tests.support.snapshots import snapshot
from tests.support.subscription_choices import (
    EXPIRED,
    REFUNDED,
    START,
    buy,
    claim,
    error_metadata,
    get,
    plans,
    quote,
    refund,
)

PRECONDITION = grpc.StatusCode.FAILED_PRECONDITION
INVALID = grpc.StatusCode.INVALID_ARGUMENT


def figures(r: res.Refund) -> dict:
    """The formula's figures of a refund or quote (P, S, B and the amount)."""
    return {
        "amount": r.amount.amount_minor,
        "full": r.full_refund,
        "P": r.paid_value.amount_minor,
        "S": r.share_value.amount_minor,
        "B": r.benefits_used.amount_minor,
        "claims": r.claims_counted,
        "terms": list(r.term_sequences),
    }


def lines(r: res.Refund) -> list[tuple[str, str, int]]:
    return [(p.order_id, p.payment_id, p.amount.amount_minor) for p in r.payments]


async def state_of(pool) -> dict:
    return await snapshot(
        pool,
        "subscriptions",
        "terms",
        "orders",
        "refunds",
        "audit_log",
        outbox="SELECT id FROM outbox",
    )


async def test_in_full_within_the_cooling_off_period_when_nothing_was_used(
    subscription, admin, operator, mint, checkout, clock, tap, subscription_app
):
    clock.set(START)
    await plans(admin, operator)
    member = str(uuid.uuid4())
    bought = await buy(subscription, checkout, member, "pay-1")
    sub_id, order_id = bought.subscription.subscription_id, bought.order.order_id
    clock.set(dt.datetime(2025, 1, 15, tzinfo=dt.UTC))
    quoted = await quote(admin, operator, sub_id)
    assert figures(quoted) == {
        "amount": 14_800,
        "full": True,
        "P": 14_800,
        "S": 14_800,
        "B": 0,
        "claims": 0,
        "terms": [1],
    }
    assert quoted.refund_id == "" and quoted.refunded_by == ""

    done = await refund(admin, operator, sub_id, "changed their mind")
    assert figures(done.refund) == figures(quoted)
    assert lines(done.refund) == lines(quoted) == [(order_id, "pay-1", 14_800)]
    assert done.refund.refund_id and done.refund.refunded_by == "operator:ops-alice"
    assert done.refund.reason == "changed their mind"
    sub = done.subscription
    assert sub.state == res.SUBSCRIPTION_STATE_REFUNDED and not sub.auto_renew
    assert sub.end_cause == res.END_CAUSE_REFUNDED
    assert sub.end_time.ToDatetime(dt.UTC) == dt.datetime(2025, 1, 15, tzinfo=dt.UTC)
    assert sub.refund.refund_id == done.refund.refund_id
    seen = await get(subscription, mint(member), sub_id)
    assert seen.state == res.SUBSCRIPTION_STATE_REFUNDED

    pool = subscription_app.pool
    row = await pool.fetchrow(
        "SELECT state, refunded_minor, end_cause, auto_renew FROM subscriptions"
        " WHERE subscription_id = $1",
        uuid.UUID(sub_id),
    )
    assert dict(row) == {
        "state": "refunded",
        "refunded_minor": 14_800,
        "end_cause": "refunded",
        "auto_renew": False,
    }
    recorded = await pool.fetchrow(
        "SELECT refund_id, amount_minor, refunded_by, reason, payments FROM refunds"
        " WHERE subscription_id = $1",
        uuid.UUID(sub_id),
    )
    assert str(recorded["refund_id"]) == done.refund.refund_id
    assert (recorded["amount_minor"], recorded["refunded_by"], recorded["reason"]) == (
        14_800,
        "operator:ops-alice",
        "changed their mind",
    )
    audit = await pool.fetchrow(
        "SELECT actor, detail FROM audit_log WHERE action = 'subscription.refund' AND subject = $1",
        sub_id,
    )
    assert audit["actor"] == "operator:ops-alice"
    assert audit["detail"]["reason"] == "changed their mind"
    assert audit["detail"]["amount_minor"] == 14_800

    (refunded,) = await tap.wait_for(REFUNDED, sub_id)
    assert refunded.data["refunded"] == {"currencyCode": "CNY", "amountMinor": "14800"}
    assert refunded.data["fullRefund"] is True
    assert refunded.data["refundId"] == done.refund.refund_id
    assert refunded.data["memberId"] == member
    assert refunded.data["payments"] == [
        {
            "orderId": order_id,
            "paymentId": "pay-1",
            "amount": {"currencyCode": "CNY", "amountMinor": "14800"},
        }
    ]
    (expired,) = await tap.wait_for(EXPIRED, sub_id)
    assert expired.data["cause"] == "END_CAUSE_REFUNDED"
    assert expired.data["expiredTime"] == "2025-01-15T00:00:00Z"


async def test_pro_rata_after_the_cooling_off_period(
    subscription, admin, operator, checkout, clock
):
    clock.set(START)
    await plans(admin, operator)
    sub_id = (
        await buy(subscription, checkout, str(uuid.uuid4()), "pay-1")
    ).subscription.subscription_id
    clock.set(dt.datetime(2025, 3, 10, tzinfo=dt.UTC))  # 59 of 365 days
    quoted = await quote(admin, operator, sub_id)
    expected = {
        "amount": 12_408,  # 14,800 − floor(14,800 × 59 / 365)
        "full": False,
        "P": 14_800,
        "S": 12_408,
        "B": 0,
        "claims": 0,
        "terms": [1],
    }
    assert figures(quoted) == expected
    assert figures((await refund(admin, operator, sub_id)).refund) == expected


async def test_less_the_benefits_used_the_worked_example(
    subscription, admin, operator, mint, checkout, clock
):
    # Needs ClaimBenefit (the benefits concern).
    clock.set(START)
    await plans(admin, operator)
    member = str(uuid.uuid4())
    own = mint(member)
    sub_id = (await buy(subscription, checkout, member, "pay-1")).subscription.subscription_id
    clock.set(dt.datetime(2025, 1, 15, tzinfo=dt.UTC))
    await claim(subscription, own, member, "free_shipping")
    quoted = await quote(admin, operator, sub_id)
    # Any claim ends the full refund: floor(14,800 × 5 / 365) = 202; 14,598 − 600.
    assert figures(quoted) == {
        "amount": 13_998,
        "full": False,
        "P": 14_800,
        "S": 14_598,
        "B": 600,
        "claims": 1,
        "terms": [1],
    }
    clock.set(dt.datetime(2025, 3, 10, tzinfo=dt.UTC))
    for benefit in ("free_shipping", "free_shipping", "video_vip"):
        await claim(subscription, own, member, benefit)
    quoted = await quote(admin, operator, sub_id)
    expected = {
        "amount": 9_108,  # min(14,800, 12,408 − (3 × 600 + 1,500))
        "full": False,
        "P": 14_800,
        "S": 12_408,
        "B": 3_300,
        "claims": 4,
        "terms": [1],
    }
    assert figures(quoted) == expected
    done = await refund(admin, operator, sub_id)
    assert figures(done.refund) == expected
    assert lines(done.refund) == lines(quoted)


async def test_stacked_terms_each_by_its_own_cooling_off_and_pending_orders_cancelled(
    subscription, admin, operator, checkout, clock, subscription_app
):
    clock.set(START)
    await plans(admin, operator)
    member = str(uuid.uuid4())
    first = await buy(subscription, checkout, member, "pay-1")
    clock.set(START + dt.timedelta(days=30))
    second = await buy(subscription, checkout, member, "pay-2")  # a second year, stacked
    sub_id = second.subscription.subscription_id
    assert sub_id == first.subscription.subscription_id
    unpaid = await subscription.CreateSubscriptionOrder(
        pb.CreateSubscriptionOrderRequest(
            request_id=uid(), member_id=member, plan_id="plus_yearly"
        ),
        metadata=checkout,
    )
    clock.set(START + dt.timedelta(days=33))
    quoted = await quote(admin, operator, sub_id)
    # The first year is past its cooling-off: 14,800 − floor(14,800 × 33 / 365) = 13,462; the
    # second was paid 3 days ago and nothing was used: in full.
    expected = {
        "amount": 28_262,
        "full": False,
        "P": 29_600,
        "S": 28_262,
        "B": 0,
        "claims": 0,
        "terms": [1, 2],
    }
    assert figures(quoted) == expected
    newest_first = [
        (second.order.order_id, "pay-2", 14_800),
        (first.order.order_id, "pay-1", 13_462),
    ]
    assert lines(quoted) == newest_first
    done = await refund(admin, operator, sub_id)
    assert figures(done.refund) == expected and lines(done.refund) == newest_first
    # Each term shows what was paid back on its own payment.
    assert [(t.order_id, t.refunded.amount_minor) for t in done.subscription.terms] == [
        (first.order.order_id, 13_462),
        (second.order.order_id, 14_800),
    ]
    state = await subscription_app.pool.fetchval(
        "SELECT state FROM orders WHERE order_id = $1", uuid.UUID(unpaid.order.order_id)
    )
    assert state == "cancelled"


async def test_a_refund_is_refused_the_second_time_and_changes_nothing(
    subscription, admin, operator, checkout, clock, subscription_app
):
    clock.set(START)
    await plans(admin, operator)
    sub_id = (
        await buy(subscription, checkout, str(uuid.uuid4()), "pay-1")
    ).subscription.subscription_id
    clock.set(START + dt.timedelta(days=40))
    request_id = uid()
    first = await refund(admin, operator, sub_id, request_id=request_id)
    before = await state_of(subscription_app.pool)
    replay = await refund(admin, operator, sub_id, request_id=request_id)
    assert replay.refund.refund_id == first.refund.refund_id
    code, reason, metadata = await error_metadata(refund(admin, operator, sub_id))
    assert (code, reason, metadata["state"]) == (
        PRECONDITION,
        "SUBSCRIPTION_ALREADY_REFUNDED",
        "refunded",
    )
    await fails(quote(admin, operator, sub_id), PRECONDITION, "SUBSCRIPTION_ALREADY_REFUNDED")
    assert await state_of(subscription_app.pool) == before


async def test_nothing_to_refund_or_nothing_refundable(
    subscription, admin, operator, checkout, subscription_app
):
    await plans(admin, operator)
    given = await admin.GrantSubscription(
        admin_pb.GrantSubscriptionRequest(
            request_id=uid(), member_id=str(uuid.uuid4()), plan_id="plus_yearly", reason="apology"
        ),
        metadata=operator,
    )
    gift = given.subscription.subscription_id
    pending = await subscription.CreateSubscriptionOrder(
        pb.CreateSubscriptionOrderRequest(
            request_id=uid(), member_id=str(uuid.uuid4()), plan_id="plus_yearly"
        ),
        metadata=checkout,
    )
    before = await state_of(subscription_app.pool)
    assert figures(await quote(admin, operator, gift))["amount"] == 0  # a quote of 0 is answered
    code, reason, metadata = await error_metadata(refund(admin, operator, gift))
    assert (code, reason) == (PRECONDITION, "NOTHING_TO_REFUND")
    assert (metadata["paid_minor"], metadata["used_value_minor"]) == ("0", "0")
    for call in (
        quote(admin, operator, pending.subscription.subscription_id),
        refund(admin, operator, pending.subscription.subscription_id),
    ):
        await fails(call, PRECONDITION, "SUBSCRIPTION_PENDING_PAYMENT")
    await fails(
        refund(admin, operator, str(uuid.uuid4())),
        grpc.StatusCode.NOT_FOUND,
        "SUBSCRIPTION_NOT_FOUND",
    )
    assert await state_of(subscription_app.pool) == before


async def test_bad_input_and_callers_are_refused_and_change_nothing(
    subscription, admin, operator, mint, checkout, subscription_app
):
    await plans(admin, operator)
    member = str(uuid.uuid4())
    sub_id = (await buy(subscription, checkout, member, "pay-1")).subscription.subscription_id
    before = await state_of(subscription_app.pool)
    await fails(refund(admin, operator, sub_id, reason=""), INVALID, "REASON_REQUIRED", ["reason"])
    await fails(
        refund(admin, operator, "nope", reason="a\x00b"),
        INVALID,
        "INVALID_ARGUMENT",
        ["subscription_id", "reason"],
    )
    await fails(
        refund(admin, operator, sub_id, reason="x" * 513), INVALID, "INVALID_ARGUMENT", ["reason"]
    )
    await fails(quote(admin, operator, "nope"), INVALID, None, ["subscription_id"])
    for caller in (mint(member), checkout):
        await fails(
            refund(admin, caller, sub_id), grpc.StatusCode.PERMISSION_DENIED, "MISSING_SCOPE"
        )
        await fails(
            quote(admin, caller, sub_id), grpc.StatusCode.PERMISSION_DENIED, "MISSING_SCOPE"
        )
    assert await state_of(subscription_app.pool) == before
