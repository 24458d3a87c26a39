"""DOMAIN.md "How the parts meet: a storefront's day", end to end: every service a process of
its own as `make run` starts them (tests/e2e/suite.py), driven through public interfaces only —
gRPC, the storefront's commerce events published with its client (loyalty_storefront) as its
broker user, the suite's events read back with that client, and the operators' commands. Every
balance, tier and event is checked at every step; the figures are worked out here from the
documented rules (docs/domain.md), not read from the services."""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
from zoneinfo import ZoneInfo

import grpc
import pytest

from loyalty.commerce.v1 import events_pb2 as commerce
from loyalty.giftcard.v1 import events_pb2 as giftcard_events
from loyalty.giftcard.v1 import resources_pb2 as gcres
from loyalty.giftcard.v1 import wallet_service_pb2 as wpb
from loyalty.growth.v1 import events_pb2 as growth_events
from loyalty.growth.v1 import resources_pb2 as gres
from loyalty.identity.v1 import events_pb2 as identity_events
from loyalty.identity.v1 import identity_service_pb2 as ipb
from loyalty.identity.v1 import resources_pb2 as ires
from loyalty.points.v1 import events_pb2 as points_events
from loyalty.points.v1 import points_service_pb2 as ppb
from loyalty.points.v1 import resources_pb2 as pres
from loyalty.subscription.v1 import events_pb2 as sub_events
from loyalty.subscription.v1 import resources_pb2 as sres
from loyalty.subscription.v1 import subscription_admin_service_pb2 as sapb
from loyalty.subscription.v1 import subscription_service_pb2 as spb
from loyalty.type.v1 import money_pb2
from loyalty_storefront import Storefront
from services.identity.verification import DevFileSender
from tests.e2e.callers import Callers
from tests.e2e.shop import Reads
from tests.e2e.suite import NAMES, Suite
from tests.e2e.watch import Watch
from tests.support import identity_fakes, idnum
from tests.support.waiting import wait_until
from tools.suite.callers import uid
from tools.suite.orders import line, now, order_paid
from tools.suite.plans import PLUS_MONTHLY, plus_monthly

pytestmark = pytest.mark.e2e

ZONE = ZoneInfo("Asia/Shanghai")  # the suite's business zone (LOYALTY_BUSINESS_ZONE)
WATCHED = (
    identity_events.MemberRegistered,
    identity_events.MemberVerified,
    points_events.PointsCredited,
    points_events.PointsDebited,
    points_events.PointsHeld,
    growth_events.GrowthScoreSettled,
    growth_events.GrowthTierChanged,
    growth_events.GrowthGiftPackGranted,
    sub_events.SubscriptionActivated,
    sub_events.SubscriptionRenewalFailed,
    sub_events.SubscriptionExpired,
    sub_events.ChargeRequested,
    sub_events.ChargeCancelled,
    giftcard_events.HoldPlaced,
    giftcard_events.CardRedeemed,
    giftcard_events.RedemptionReturned,
)
Credited, Debited = points_events.PointsCredited, points_events.PointsDebited


async def test_a_storefront_day(amqp):
    async with contextlib.AsyncExitStack() as stack:
        suite = await stack.enter_async_context(Suite(amqp))
        call = await stack.enter_async_context(Callers(suite))
        store = await stack.enter_async_context(
            await Storefront.connect(
                suite.storefront_url,
                source="/storefront/e2e",
                commerce_exchange=NAMES.commerce,
                events_exchange=NAMES.events,
                queue_prefix=NAMES.queue_prefix,
            )
        )
        watch = await Watch.start(store, "e2e-day", *WATCHED)
        stack.push_async_callback(watch.stop)
        await storefront_day(suite, call, store, watch, Reads(call))


async def storefront_day(
    suite: Suite, call: Callers, store: Storefront, watch: Watch, read: Reads
) -> None:
    async def known(member_id: str, available: int) -> bool:
        """Points and growth know the member (member.registered applied) with `available`."""
        try:
            await read.growth(member_id)
            return (await read.balance(member_id))[0] == available
        except grpc.aio.AioRpcError as exc:  # NOT_FOUND until the event arrives
            if exc.code() != grpc.StatusCode.NOT_FOUND:
                raise
            return False

    async def register(phone: str, **fields) -> ires.Member:
        request = ipb.RegisterMemberRequest(
            request_id=uid(),
            phone=phone,
            password="s3cret-pass",
            channel=ires.REGISTRATION_CHANNEL_APP,
            **fields,
        )
        # The shopper proves the phone with the code the development sender wrote for it.
        codes = DevFileSender(suite.codes_dir)
        request = await identity_fakes.proven(call.identity, codes, request)
        return (await call.identity.RegisterMember(request)).member

    # 1. A shopper registers with a friend's referral code: both get the sign-up bonus (100)
    #    and growth opens a profile (REGISTERED).
    friend = await register("13800000001")
    me = await register(
        "13800000002", referral_code=friend.referral_code, profile=ires.Profile(nickname="lei")
    )
    shopper, referrer = me.member_id, friend.member_id
    assert me.referred_by == referrer
    (registered,) = await watch.wait(identity_events.MemberRegistered, member_id=shopper)
    assert (registered.referred_by, list(registered.filled_fields)) == (referrer, ["nickname"])
    for member in (shopper, referrer):
        await wait_until(functools.partial(known, member, 100), 10, "points and growth: member")
        assert (await read.growth(member)).tier == gres.TIER_REGISTERED
        (bonus,) = await watch.wait(Credited, member_id=member, rule_code="sign_up_bonus")
        assert (bonus.points, bonus.pending) == (100, False)
    assert (await read.balance(shopper)) == (100, 0, 0, 0)
    assert (await read.score_now(shopper))["account"] == 50  # 1 of 4 profile fields: 200 / 4

    # 2. They verify their real name: growth's account component rises by 200.
    await call.identity.VerifyRealName(
        ipb.VerifyRealNameRequest(
            request_id=uid(), member_id=shopper, legal_name="李雷", id_number=idnum.make(12)
        ),
        metadata=call.admin,
    )
    await watch.wait(identity_events.MemberVerified, member_id=shopper)
    await wait_until(
        lambda: read.score_is(shopper, account=250), 10, "growth to record the verification"
    )

    # 3. They buy PLUS at the storefront's cashier, which confirms the payment with its event:
    #    ACTIVE for a month, 10x points, member prices.
    await call.subscription_admin.CreatePlan(
        sapb.CreatePlanRequest(request_id=uid(), plan=plus_monthly()), metadata=call.admin
    )
    ordered = await call.subscription.CreateSubscriptionOrder(
        spb.CreateSubscriptionOrderRequest(
            request_id=uid(),
            member_id=shopper,
            plan_id=PLUS_MONTHLY,
            collection=sres.PAYMENT_COLLECTION_STOREFRONT,
        ),
        metadata=call.shop,
    )
    await store.publish(
        commerce.PaymentSucceeded(
            payment_id="pay-plus-1",
            member_id=shopper,
            purpose="subscription",
            reference_id=ordered.order.order_id,
            amount=money_pb2.Money(currency_code="CNY", amount_minor=19_00),
            succeeded_time=now(),
        )
    )
    (activated,) = await watch.wait(sub_events.SubscriptionActivated, member_id=shopper)
    assert (activated.points_multiplier, activated.auto_renew) == (10, True)
    plus = await read.subscription(shopper)
    assert plus.state == sres.SUBSCRIPTION_STATE_ACTIVE
    period_end = plus.period_end.ToDatetime(dt.UTC)
    benefits = await read.benefits(shopper)
    assert (benefits.points_multiplier, benefits.member_discount_bps) == (10, 500)

    # 4. Checkout: 2,000 points (an operator's welcome credit first) and 150 CNY on a gift
    #    card are held over gRPC, the rest paid; then the storefront publishes order.paid.
    await call.points.Adjust(
        ppb.AdjustRequest(request_id=uid(), member_id=shopper, delta=5_000, reason="welcome"),
        metadata=call.admin,
    )
    number, pin = await call.sold_card(200_00)
    assert await call.card_balance(number, pin) == 200_00
    hold = await call.points.ReserveHold(
        ppb.ReserveHoldRequest(
            request_id=uid(),
            member_id=shopper,
            order_id="order-1",
            points=2_000,
            order_amount_minor=2_000_00,
        ),
        metadata=call.shop,
    )
    assert (await read.balance(shopper)) == (3_100, 0, 2_000, 0)
    await watch.wait(points_events.PointsHeld, hold_id=hold.hold.hold_id, points=2_000)
    card_holds = await call.wallet.PlaceHolds(
        wpb.PlaceHoldsRequest(
            request_id=uid(),
            order_id="order-1",
            member_id=shopper,
            currency_code="CNY",
            order_amount_minor=1_980_00,
            channel="online",
            sources=[
                wpb.HoldSource(
                    kind=gcres.HOLD_SOURCE_KIND_CARD_SECRET,
                    card=wpb.CardSecret(card_number=number, pin=pin),
                    amount_minor=150_00,
                )
            ],
        ),
        metadata=call.shop,
    )
    (card_hold,) = card_holds.holds
    await watch.wait(giftcard_events.HoldPlaced, hold_id=card_hold.hold_id)
    # 2,000 CNY of books and appliances, 20 CNY off for the points (500 and 1,500 fen of it
    # on the lines), 150 CNY by gift card, the other 1,830 CNY with the platform's payment.
    lines = [line("l-1", "books", 500_00, 495_00), line("l-2", "appliances", 1_500_00, 1_485_00)]
    await store.publish(
        order_paid(
            "order-1",
            shopper,
            lines,
            points_hold_id=hold.hold.hold_id,
            points_used=2_000,
            gift_card_hold_ids=[card_hold.hold_id],
            gift_card_amount_minor=150_00,
            platform_payment_amount_minor=1_830_00,
        )
    )
    capture = pres.LEDGER_ENTRY_KIND_HOLD_CAPTURE
    (captured,) = await watch.wait(Debited, member_id=shopper, kind=capture)
    assert (captured.points, captured.reference) == (2_000, "order-1")
    # The rebate: 1,980 whole CNY paid x 1 point x 10, pending until the order completes.
    (rebate,) = await watch.wait(Credited, member_id=shopper, rule_code="purchase_rebate")
    assert (rebate.points, rebate.pending) == (19_800, True)
    (redeemed,) = await watch.wait(giftcard_events.CardRedeemed, order_id="order-1")
    assert (redeemed.amount_minor, redeemed.balance_minor) == (150_00, 50_00)
    assert (await read.balance(shopper)) == (3_100, 19_800, 0, 0)
    paid = await read.order("order-1")
    assert (paid.payment.points_captured, paid.rebate.multiplier) == (2_000, 10)
    assert paid.rebate.state == pres.REBATE_STATE_PENDING
    assert await call.card_balance(number, pin) == 50_00
    # Growth's consumption: net spend 198,000 fen → 990, 1 order → 25, 2 categories → 100,
    # 183,000 fen by the platform's payment → 100 + 83,000 x 100 / 400,000 = 120.
    expected = {"spend": 990, "orders": 25, "breadth": 100, "platform_payment": 120}
    await wait_until(
        lambda: read.score_is(shopper, consumption=1_235, **expected), 10, "growth's order"
    )

    # 5. The return window closes: the rebate becomes available; the friend gets the referral
    #    bonus for this first order. The shopper reviews it (20 points, growth's activity).
    await store.publish(
        commerce.OrderCompleted(order_id="order-1", member_id=shopper, completed_time=now())
    )
    confirmed = await watch.wait(Credited, 2, member_id=shopper, rule_code="purchase_rebate")
    assert (confirmed[1].points, confirmed[1].pending) == (19_800, False)
    (referral,) = await watch.wait(Credited, member_id=referrer, rule_code="referral_bonus")
    assert (referral.points, referral.reference) == (500, f"referral:{shopper}")
    assert (await read.balance(referrer)) == (600, 0, 0, 0)
    await store.publish(
        commerce.ReviewPosted(
            review_id="review-1", order_id="order-1", member_id=shopper, posted_time=now()
        )
    )
    (review,) = await watch.wait(Credited, member_id=shopper, rule_code="review")
    assert review.points == 20
    assert (await read.balance(shopper)) == (22_920, 0, 0, 0)
    assert (await read.order("order-1")).rebate.state == pres.REBATE_STATE_AVAILABLE
    await wait_until(lambda: read.score_is(shopper, activity=10), 10, "growth's review")

    # 6. 495 CNY of the appliances are refunded, 50 CNY of it to the gift card, with 500 of
    #    the points spent: the rebate is reversed in proportion (19,800 x 49,500 / 198,000 =
    #    4,950, clawed back from available), the points and the card's value come back,
    #    growth's consumption falls.
    await store.publish(
        commerce.OrderRefunded(
            order_id="order-1",
            member_id=shopper,
            refund_id="refund-1",
            currency_code="CNY",
            lines=[commerce.RefundLine(line_id="l-2", amount_minor=495_00)],
            refunded_amount_minor=495_00,
            points_to_return=500,
            refund_time=now(),
            gift_card_amount_minor=50_00,
        )
    )
    (clawback,) = await watch.wait(Debited, member_id=shopper, kind=pres.LEDGER_ENTRY_KIND_CLAWBACK)
    assert (clawback.points, clawback.reference) == (4_950, "refund-1")
    back = pres.LEDGER_ENTRY_KIND_REFUND_RETURN
    (spent_back,) = await watch.wait(Credited, member_id=shopper, kind=back)
    assert (spent_back.points, spent_back.reference) == (500, "refund-1")
    (returned,) = await watch.wait(giftcard_events.RedemptionReturned, refund_id="refund-1")
    assert (returned.amount_minor, returned.balance_minor) == (50_00, 100_00)
    await wait_until(
        lambda: read.balance_is(shopper, (22_920 - 4_950 + 500, 0, 0, 0)), 10, "points back"
    )
    refunded = await read.order("order-1")
    assert (refunded.rebate.reversed_points, refunded.payment.points_returned) == (4_950, 500)
    assert refunded.payment.refunded_amount_minor == 495_00
    assert await call.card_balance(number, pin) == 100_00
    # Net 148,500 fen → 742; the platform's part shrinks alike, 183,000 x 148,500 / 198,000
    # = 137,250 → 109; the score is 250 + 976 + 10 = 1,236: bronze at the next settlement.
    expected = {"spend": 742, "orders": 25, "breadth": 100, "platform_payment": 109}
    await wait_until(
        lambda: read.score_is(shopper, consumption=976, score=1_236, **expected),
        10,
        "growth's refund",
    )

    # 7. On the 1st, growth settles the month: bronze, its gift pack's 200 points credited
    #    once. The operator's command runs at the next month's first hour.
    local = dt.datetime.now(ZONE)
    period = f"{local.year:04d}-{local.month:02d}"
    first = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0) + dt.timedelta(32)
    at = first.replace(day=1) + dt.timedelta(hours=1)
    settled = json.loads((await suite.command("growth", "settle", at=at)).splitlines()[-1])
    assert settled["ran"] and settled["settlement"]["state"] == "completed"
    assert settled["settlement"]["period"] == period
    (score,) = await watch.wait(growth_events.GrowthScoreSettled, member_id=shopper)
    assert (score.period, score.score, score.tier) == (period, 1_236, gres.TIER_BRONZE)
    (friends,) = await watch.wait(growth_events.GrowthScoreSettled, member_id=referrer)
    assert (friends.score, friends.tier) == (0, gres.TIER_REGISTERED)
    (changed,) = await watch.wait(growth_events.GrowthTierChanged, member_id=shopper)
    assert (changed.previous_tier, changed.tier) == (gres.TIER_REGISTERED, gres.TIER_BRONZE)
    assert (changed.reason, changed.period) == (gres.TIER_CHANGE_REASON_SETTLED_UP, period)
    reference = f"growth:tier_upgrade:{shopper}:bronze:{period}"
    (pack,) = await watch.wait(growth_events.GrowthGiftPackGranted, member_id=shopper)
    assert (pack.reference, pack.tier, pack.points) == (reference, gres.TIER_BRONZE, 200)
    (gift,) = await watch.wait(Credited, member_id=shopper, reference=reference)
    assert (gift.points, gift.rule_code) == (200, "tier_upgrade")
    assert (await read.balance(shopper)) == (18_670, 0, 0, 0)
    growth = await read.growth(shopper)
    assert (growth.tier, growth.score, growth.period) == (gres.TIER_BRONZE, 1_236, period)

    # 8. The PLUS renewal is charged a day before the period ends (the operator's run-jobs
    #    an hour before it) and declined: grace for 3 days, 10x still; then it expires, and
    #    the next order earns 1x.
    jobs = json.loads(
        (
            await suite.command("subscription", "run-jobs", at=period_end - dt.timedelta(hours=1))
        ).splitlines()[-1]
    )
    assert jobs["renewal_charges_requested"] == 1
    (charge,) = await watch.wait(sub_events.ChargeRequested, member_id=shopper)
    assert charge.amount.amount_minor == 19_00
    (failed,) = await watch.wait(sub_events.SubscriptionRenewalFailed, member_id=shopper)
    grace_until = period_end + dt.timedelta(days=3)
    assert failed.grace_until.ToDatetime(dt.UTC) == grace_until
    assert failed.failure_reason == "card_declined"
    in_grace = await read.subscription(shopper)
    assert in_grace.state == sres.SUBSCRIPTION_STATE_GRACE
    await store.publish(order_paid("order-2", shopper, [line("l-1", "books", 100_00, 100_00)]))
    (grace_rebate,) = await watch.wait(Credited, member_id=shopper, reference="order-2")
    assert (grace_rebate.points, (await read.order("order-2")).rebate.multiplier) == (1_000, 10)

    after_grace = grace_until + dt.timedelta(hours=1)
    jobs = json.loads(
        (await suite.command("subscription", "run-jobs", at=after_grace)).splitlines()[-1]
    )
    assert jobs["clock_changes"] >= 1
    (expired,) = await watch.wait(sub_events.SubscriptionExpired, member_id=shopper)
    assert expired.cause == sres.END_CAUSE_GRACE_ENDED
    await watch.wait(sub_events.ChargeCancelled, order_id=charge.order_id)
    assert (await read.subscription(shopper)).state == sres.SUBSCRIPTION_STATE_EXPIRED
    # Points hears of the expiry on another queue than the orders: orders are paid until one
    # earns 1x (the first, unless the expiry is still on its way).
    pending = 1_000
    for attempt in range(1, 50):
        order_id = f"order-after-{attempt}"
        await store.publish(order_paid(order_id, shopper, [line("l-1", "books", 100_00, 100_00)]))
        (earned,) = await watch.wait(Credited, member_id=shopper, reference=order_id)
        pending += earned.points
        if (await read.order(order_id)).rebate.multiplier == 1:
            assert earned.points == 100
            break
    else:
        raise AssertionError("points never stopped the 10x multiplier")
    assert (await read.balance(shopper)) == (18_670, pending, 0, 0)

    # Nothing happened twice, and only the storefront's user published commerce effects.
    assert len(watch.of(growth_events.GrowthGiftPackGranted)) == 1
    assert len(watch.of(Credited, reference=reference)) == 1
    assert len(watch.of(growth_events.GrowthTierChanged)) == 1
    assert len(watch.of(sub_events.SubscriptionRenewalFailed)) == 1
    for type_, users in watch.publishers().items():
        source = type_.split(".")[1]
        assert users == {suite.publisher_of(source)}, (type_, users)
