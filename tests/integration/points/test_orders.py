"""Order events: rebates pending until completion, refunds (also before their payment),
cancellations, clawback into debt, the subscription multiplier, referral and review bonuses."""

from __future__ import annotations

import uuid

import grpc

from loyalty.commerce.v1 import events_pb2 as commerce
from loyalty.identity.v1 import events_pb2 as identity
from loyalty.points.v1 import points_service_pb2 as pb
from loyalty.points.v1 import resources_pb2 as res
from loyalty.subscription.v1 import events_pb2 as subscription
from services.kit import metrics
from tests.support.grpc_errors import fails
from tests.support.ids import uid
from tests.support.points import (
    CANCELLED,
    COMPLETED,
    PAID,
    REFUNDED,
    REGISTERED,
    REVIEW,
    adjust_request,
    assert_reconciled,
    completed,
    dead_lettered,
    paid,
    redeem_request,
    refunded,
    rejected_at_once,
    reserve_request,
)
from tests.support.waiting import wait_until

SUB = "loyalty.subscription.subscription."


def duplicates(points_app) -> float:
    name = points_app.settings.queue_prefix + "points.commerce"
    return metrics.EVENTS_DUPLICATE.labels(name)._value.get()


async def test_paid_three_times_with_refund_first_gives_one_rebate_and_one_reversal(
    points, points_app, operator, new_member, fund, balance, publish, consumed, tap
):
    member = await new_member()
    await fund(member, 1000)
    hold = (await points.ReserveHold(reserve_request(member, 200, "o-1"), metadata=operator)).hold
    # The refund overtakes the payment: it must wait, not be lost.
    await publish(REFUNDED, "o-1", refunded("o-1", member, 4000, "r-1", points_to_return=100))
    await consumed(REFUNDED)
    assert (await balance(member)).available == 800
    waiting = await points_app.pool.fetchval(
        "SELECT count(*) FROM order_refunds WHERE applied_at IS NULL"
    )
    assert waiting == 1

    before = duplicates(points_app)
    payment = paid("o-1", member, 8000, hold.hold_id, 200)
    first = await publish(PAID, "o-1", payment)
    await publish(PAID, "o-1", payment, event_id=first)  # redelivery: same event id
    await publish(PAID, "o-1", payment)  # the storefront sent it again: a new event id
    await consumed(PAID, 2)
    await wait_until(
        lambda: _at_least(duplicates(points_app), before + 1), 10, "the redelivery counted"
    )

    b = await balance(member)
    # hold of 200 captured, 100 of them returned by the refund; rebate 80 pending, half reversed.
    assert (b.available, b.pending, b.held, b.debt) == (900, 40, 0, 0)
    rebates = await points_app.pool.fetchval(
        "SELECT count(*) FROM journal_transactions WHERE kind = 'pending_credit'"
    )
    reversals = await points_app.pool.fetchval(
        "SELECT count(*) FROM journal_transactions WHERE kind = 'pending_cancel'"
    )
    assert (rebates, reversals) == (1, 1)

    await publish(COMPLETED, "o-1", completed("o-1", member))
    await consumed(COMPLETED)
    b = await balance(member)
    assert (b.available, b.pending) == (940, 0)
    credited = await tap.wait_for("loyalty.points.points.credited.v1", member, count=4)
    kinds = sorted(e.data["kind"] for e in credited)
    assert kinds == [
        "LEDGER_ENTRY_KIND_ADJUST",
        "LEDGER_ENTRY_KIND_PENDING_CONFIRM",
        "LEDGER_ENTRY_KIND_PENDING_CREDIT",
        "LEDGER_ENTRY_KIND_REFUND_RETURN",
    ]
    pending = [e for e in credited if e.data["kind"] == "LEDGER_ENTRY_KIND_PENDING_CREDIT"][0]
    assert pending.data["pending"] is True and pending.data["points"] == "80"
    await assert_reconciled(points_app.pool)


async def _at_least(value, target) -> bool:
    return value >= target


async def test_rebate_pending_until_completed_and_cancel_before_completion(
    points, points_app, new_member, balance, publish, consumed
):
    member = await new_member()
    await publish(PAID, "o-a", paid("o-a", member, 12_345))  # 123 CNY → 123 points
    await publish(PAID, "o-b", paid("o-b", member, 5_000))
    await consumed(PAID, 2)
    b = await balance(member)
    assert (b.available, b.pending) == (0, 173)
    await publish(COMPLETED, "o-a", completed("o-a", member))
    await publish(CANCELLED, "o-b", commerce.OrderCancelled(order_id="o-b", member_id=member))
    await consumed(COMPLETED)
    await consumed(CANCELLED)
    b = await balance(member)
    assert (b.available, b.pending) == (123, 0)
    await assert_reconciled(points_app.pool)


async def test_completion_before_payment_makes_the_rebate_available_on_payment(
    points, points_app, new_member, balance, publish, consumed
):
    member = await new_member()
    await publish(COMPLETED, "o-c", completed("o-c", member))
    await consumed(COMPLETED)
    await publish(PAID, "o-c", paid("o-c", member, 2_000))
    await consumed(PAID)
    b = await balance(member)
    assert (b.available, b.pending) == (20, 0)
    await assert_reconciled(points_app.pool)


async def test_cancelled_order_releases_its_hold(
    points, points_app, operator, new_member, fund, balance, publish, consumed, tap
):
    member = await new_member()
    await fund(member, 500)
    await points.ReserveHold(reserve_request(member, 300, "o-x", 9_000), metadata=operator)
    await publish(CANCELLED, "o-x", commerce.OrderCancelled(order_id="o-x", member_id=member))
    await consumed(CANCELLED)
    b = await balance(member)
    assert (b.available, b.held) == (500, 0)
    (event,) = await tap.wait_for("loyalty.points.points.hold_released.v1", member)
    assert event.data["reason"] == "HOLD_RELEASE_REASON_ORDER_CANCELLED"
    await assert_reconciled(points_app.pool)


async def test_refund_after_spending_becomes_debt_repaid_by_later_earnings(
    points, points_app, operator, new_member, balance, publish, consumed, tap
):
    member = await new_member()
    await publish(PAID, "o-d", paid("o-d", member, 10_000))
    await publish(COMPLETED, "o-d", completed("o-d", member))
    await consumed(COMPLETED)
    await wait_until(lambda: _available(balance, member, 100), 10, "the rebate to be available")
    await points.Redeem(redeem_request(member, 70, "data.1g"), metadata=operator)
    await publish(REFUNDED, "o-d", refunded("o-d", member, 10_000))
    await consumed(REFUNDED)
    b = await balance(member)
    assert (b.available, b.debt) == (0, 70)
    debited = [
        e
        for e in await tap.wait_for("loyalty.points.points.debited.v1", member, count=2)
        if e.data["kind"] == "LEDGER_ENTRY_KIND_CLAWBACK"
    ]
    assert debited[0].data["points"] == "100" and debited[0].data["debtPoints"] == "70"

    later = await points.Adjust(adjust_request(member, 50, "goodwill"), metadata=operator)
    assert (later.balance.available, later.balance.debt) == (0, 20)
    again = await points.Adjust(adjust_request(member, 50, "goodwill"), metadata=operator)
    assert (again.balance.available, again.balance.debt) == (30, 0)
    audited = await points_app.pool.fetch(
        "SELECT detail FROM audit_log WHERE action = 'points.adjust' AND subject = $1 ORDER BY id",
        member,
    )
    assert [(a["detail"]["delta"], a["detail"]["reason"]) for a in audited][-2:] == [
        (50, "goodwill"),
        (50, "goodwill"),
    ]
    history = await points.ListLedgerEntries(
        pb.ListLedgerEntriesRequest(member_id=member, kind=res.LEDGER_ENTRY_KIND_DEBT_REPAY),
        metadata=operator,
    )
    debt_side = [e.amount for e in history.entries if e.bucket == res.LEDGER_BUCKET_DEBT]
    assert debt_side == [-20, -50]
    await assert_reconciled(points_app.pool)


async def _available(balance, member, amount) -> bool:
    return (await balance(member)).available == amount


async def test_subscription_multiplier_follows_subscription_events(
    points, points_app, new_member, balance, publish, consumed
):
    member = await new_member()
    sub_id = uid()
    await publish(
        SUB + "activated.v1",
        sub_id,
        subscription.SubscriptionActivated(
            subscription_id=sub_id, member_id=member, plan_id="plus-m", points_multiplier=10
        ),
    )
    await consumed(SUB + "activated.v1")
    await publish(PAID, "o-m1", paid("o-m1", member, 5_000))
    await consumed(PAID)
    assert (await balance(member)).pending == 500
    await publish(
        SUB + "renewal_failed.v1",
        sub_id,
        subscription.SubscriptionRenewalFailed(subscription_id=sub_id, member_id=member),
    )
    await consumed(SUB + "renewal_failed.v1")
    await publish(PAID, "o-m2", paid("o-m2", member, 1_000))
    await consumed(PAID, 2)
    assert (await balance(member)).pending == 600  # grace keeps the multiplier
    await publish(
        SUB + "expired.v1",
        sub_id,
        subscription.SubscriptionExpired(subscription_id=sub_id, member_id=member),
    )
    await consumed(SUB + "expired.v1")
    # A late duplicate activation does not revive an expired subscription.
    await publish(
        SUB + "activated.v1",
        sub_id,
        subscription.SubscriptionActivated(
            subscription_id=sub_id, member_id=member, points_multiplier=10
        ),
    )
    await consumed(SUB + "activated.v1", 2)
    await publish(PAID, "o-m3", paid("o-m3", member, 1_000))
    await consumed(PAID, 3)
    assert (await balance(member)).pending == 610
    multipliers = await points_app.pool.fetch(
        "SELECT order_id, multiplier FROM orders ORDER BY order_id"
    )
    assert [(r["order_id"], r["multiplier"]) for r in multipliers] == [
        ("o-m1", 10),
        ("o-m2", 10),
        ("o-m3", 1),
    ]


async def test_multiplier_changes_with_plan_changed_not_with_a_stacked_term(
    points, points_app, new_member, balance, publish, consumed
):
    """A term of another plan stacked on a live subscription (subscription.renewed) begins
    later: the multiplier in effect changes only when subscription.plan_changed says it took
    effect; cancel then resume keeps it."""
    member = await new_member()
    sub_id = uid()
    events = [
        (
            "activated.v1",
            subscription.SubscriptionActivated(
                subscription_id=sub_id, member_id=member, plan_id="trial", points_multiplier=2
            ),
        ),
        (
            "renewed.v1",
            subscription.SubscriptionRenewed(
                subscription_id=sub_id, member_id=member, plan_id="plus", points_multiplier=10
            ),
        ),
        (
            "cancelled.v1",
            subscription.SubscriptionCancelled(subscription_id=sub_id, member_id=member),
        ),
        ("resumed.v1", subscription.SubscriptionResumed(subscription_id=sub_id, member_id=member)),
    ]
    for i, (kind, message) in enumerate(events):
        await publish(SUB + kind, sub_id, message)
        await consumed(SUB + kind)
        await publish(PAID, f"o-s{i}", paid(f"o-s{i}", member, 1_000))
        await consumed(PAID, i + 1)
    assert (await balance(member)).pending == 4 * 20  # 10 yuan × 2 on each
    state = await points_app.pool.fetchval(
        "SELECT state FROM subscriptions WHERE subscription_id = $1", sub_id
    )
    assert state == "active"  # resumed undid cancelled
    await publish(
        SUB + "plan_changed.v1",
        sub_id,
        subscription.SubscriptionPlanChanged(
            subscription_id=sub_id, member_id=member, plan_id="plus", points_multiplier=10
        ),
    )
    await consumed(SUB + "plan_changed.v1")
    await publish(PAID, "o-s9", paid("o-s9", member, 1_000))
    await consumed(PAID, 5)
    assert (await balance(member)).pending == 4 * 20 + 100


async def test_registration_pays_sign_up_bonus_and_referral_on_first_completed_order(
    points, points_app, balance, publish, consumed
):
    referrer, referee = uid(), uid()
    await publish(REGISTERED, referrer, identity.MemberRegistered(member_id=referrer))
    await publish(
        REGISTERED, referee, identity.MemberRegistered(member_id=referee, referred_by=referrer)
    )
    await consumed(REGISTERED, 2)
    assert (await balance(referrer)).available == 100
    assert (await balance(referee)).available == 100
    # Registration redelivered under a new id: no second bonus.
    await publish(REGISTERED, referee, identity.MemberRegistered(member_id=referee))
    await consumed(REGISTERED, 3)
    for order in ("o-r1", "o-r2"):
        await publish(PAID, order, paid(order, referee, 1_000))
        await publish(COMPLETED, order, completed(order, referee))
    await consumed(COMPLETED, 2)
    assert (await balance(referrer)).available == 600  # one referral bonus
    assert (await balance(referee)).available == 120
    await assert_reconciled(points_app.pool)


async def test_reviews_earn_once_per_review_within_the_daily_cap(
    points, points_app, new_member, balance, publish, consumed
):
    member = await new_member()
    review = commerce.ReviewPosted(review_id="rv-1", order_id="o", member_id=member)
    await publish(REVIEW, member, review)
    await publish(REVIEW, member, review)  # the same review again
    await publish(
        REVIEW,
        member,
        commerce.ReviewPosted(review_id="rv-p", order_id="o", member_id=member, has_photos=True),
    )
    await consumed(REVIEW, 3)
    assert (await balance(member)).available == 60
    for i in range(6):
        await publish(
            REVIEW, member, commerce.ReviewPosted(review_id=f"rv-{i + 10}", member_id=member)
        )
    await consumed(REVIEW, 9)
    assert (await balance(member)).available == 140  # review rule: at most 100 a day
    await assert_reconciled(points_app.pool)


async def test_frozen_member_cannot_earn_or_spend_until_unfrozen(
    points, points_app, operator, new_member, fund, balance, publish, consumed
):
    member = await new_member()
    await fund(member, 100)
    await publish(
        "loyalty.identity.member.frozen.v1",
        member,
        identity.MemberFrozen(member_id=member, reason="risk"),
    )
    await consumed("loyalty.identity.member.frozen.v1")
    redeem = redeem_request(member, 10)
    await fails(
        points.Redeem(redeem, metadata=operator),
        grpc.StatusCode.FAILED_PRECONDITION,
        "MEMBER_FROZEN",
    )
    await publish(PAID, "o-f", paid("o-f", member, 10_000))
    await consumed(PAID)
    assert (await balance(member)).pending == 0  # no rebate while frozen
    await publish(
        "loyalty.identity.member.unfrozen.v1",
        member,
        identity.MemberUnfrozen(member_id=member, reason="cleared"),
    )
    await consumed("loyalty.identity.member.unfrozen.v1")
    assert (await points.Redeem(redeem, metadata=operator)).balance.available == 90


async def test_malformed_event_is_dead_lettered_without_blocking_the_queue(
    points, points_app, amqp, new_member, balance, publish, consumed
):
    member = await new_member()
    await publish(PAID, "o-bad", paid("o-bad", "not-a-member-id", 1_000))
    await publish(PAID, "o-good", paid("o-good", member, 1_000))
    await consumed(PAID)
    assert (await balance(member)).pending == 10
    (message,) = await dead_lettered(amqp, points_app, "points.commerce", "o-bad")
    assert rejected_at_once(message)
    stored = await points_app.pool.fetchval("SELECT count(*) FROM orders WHERE order_id = 'o-bad'")
    assert stored == 0


async def test_closed_member_neither_earns_nor_spends(
    points, points_app, operator, new_member, fund, publish, consumed
):
    member = await new_member()
    await fund(member, 50)
    await publish(
        "loyalty.identity.member.closed.v1", member, identity.MemberClosed(member_id=member)
    )
    await consumed("loyalty.identity.member.closed.v1")
    # An older freeze arriving late does not reopen or change a closed member.
    await publish(
        "loyalty.identity.member.unfrozen.v1", member, identity.MemberUnfrozen(member_id=member)
    )
    await consumed("loyalty.identity.member.unfrozen.v1")
    await fails(points.Redeem(redeem_request(member, 1), metadata=operator), reason="MEMBER_CLOSED")


async def test_fully_refunded_first_order_pays_no_referral_bonus(
    points, points_app, new_member, balance, publish, consumed
):
    referrer = await new_member()
    referee = await new_member(referred_by=uuid.UUID(referrer))
    await publish(PAID, "o-z1", paid("o-z1", referee, 3_000))
    await publish(REFUNDED, "o-z1", refunded("o-z1", referee, 3_000))
    await consumed(REFUNDED)
    await publish(COMPLETED, "o-z1", completed("o-z1", referee))
    await consumed(COMPLETED)
    assert (await balance(referrer)).available == 0
    await publish(PAID, "o-z2", paid("o-z2", referee, 3_000))
    await publish(COMPLETED, "o-z2", completed("o-z2", referee))
    await consumed(COMPLETED, 2)
    assert (await balance(referrer)).available == 500
    b = await balance(referee)
    assert (b.available, b.pending) == (30, 0)
    await assert_reconciled(points_app.pool)
