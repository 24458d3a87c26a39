"""Checkout on gift cards through WalletService and the order events: holds placed on cards by
number and PIN, captured by the order's payment, released by its cancellation, value given back
by its refunds — each exactly once, never more than a card has, never more back than it gave."""

from __future__ import annotations

import asyncio
import uuid

import grpc

from loyalty.commerce.v1 import events_pb2 as commerce
from loyalty.giftcard.v1 import giftcard_service_pb2 as gpb
from loyalty.giftcard.v1 import resources_pb2 as res
from loyalty.giftcard.v1 import wallet_service_pb2 as pb
from services.giftcard.domain import cards as numbers
from services.giftcard.store import journal
from tests.support.grpc_errors import fails
from tests.support.ids import uid
from tests.support.waiting import wait_until

PAID = "commerce.order.paid.v1"
REFUNDED = "commerce.order.refunded.v1"
CANCELLED = "commerce.order.cancelled.v1"


def secret(card) -> pb.CardSecret:
    return pb.CardSecret(card_number=card.card_number, pin=card.pin)


def by_secret(card, amount: int) -> pb.HoldSource:
    return pb.HoldSource(
        kind=res.HOLD_SOURCE_KIND_CARD_SECRET, card=secret(card), amount_minor=amount
    )


def place(order_id: str, *sources: pb.HoldSource, total: int | None = None, **fields):
    return pb.PlaceHoldsRequest(
        request_id=uid(),
        order_id=order_id,
        currency_code="CNY",
        order_amount_minor=total or sum(s.amount_minor for s in sources),
        channel="online",
        sources=list(sources),
        **fields,
    )


async def balance(giftcard_app, card) -> tuple[int, int]:
    row = await giftcard_app.pool.fetchrow(
        "SELECT balance_minor, held_minor FROM cards WHERE card_id = $1", card.card_id
    )
    return row["balance_minor"], row["held_minor"]


async def books_are_right(giftcard_app) -> None:
    assert await journal.problems(giftcard_app.pool) == {}


async def test_balance_by_number_and_pin_one_answer_for_wrong_number_or_pin(
    wallet, cards, checkout, giftcard_app
):
    card = await cards.card(100_00)
    answer = await wallet.CheckCardBalance(
        pb.CheckCardBalanceRequest(card=secret(card)), metadata=checkout
    )
    assert answer.card.balance_minor == 100_00
    assert answer.card.state == res.CARD_STATE_ACTIVE
    assert answer.card.card_number == ""  # a storefront never sees the full number
    assert answer.card.masked_card_number.endswith(card.card_number[-4:])
    wrong_pin = pb.CardSecret(card_number=card.card_number, pin="0" * 20)
    unknown = pb.CardSecret(card_number=numbers.new_number("9", 19), pin=card.pin)
    for attempt in (wrong_pin, unknown):
        await fails(
            wallet.CheckCardBalance(pb.CheckCardBalanceRequest(card=attempt), metadata=checkout),
            grpc.StatusCode.PERMISSION_DENIED,
        )
    bad_format = pb.CardSecret(card_number="1234", pin="12")
    await fails(
        wallet.CheckCardBalance(pb.CheckCardBalanceRequest(card=bad_format), metadata=checkout),
        grpc.StatusCode.INVALID_ARGUMENT,
        fields=["card.card_number", "card.pin"],
    )


async def test_wrong_pins_lock_the_card_even_for_the_right_pin_until_the_lock_ends(
    wallet, cards, checkout, clock, giftcard_app
):
    card = await cards.card(100_00)
    wrong = pb.CheckCardBalanceRequest(
        card=pb.CardSecret(card_number=card.card_number, pin="1" * 20)
    )
    limit = giftcard_app.settings.pin_failures_before_lock
    for _ in range(limit):
        await fails(
            wallet.CheckCardBalance(wrong, metadata=checkout), reason="CARD_CREDENTIALS_INVALID"
        )
    right = pb.CheckCardBalanceRequest(card=secret(card))
    await fails(
        wallet.CheckCardBalance(right, metadata=checkout),
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "CARD_LOCKED",
    )
    clock.advance(seconds=giftcard_app.settings.pin_lock_seconds + 1)
    assert (await wallet.CheckCardBalance(right, metadata=checkout)).card.balance_minor == 100_00


async def test_a_hold_by_number_and_pin_is_captured_by_the_orders_payment_once(
    wallet, cards, checkout, giftcard_app, publish, consumed, tap
):
    card = await cards.card(100_00)
    order = uid()
    (hold,) = (
        await wallet.PlaceHolds(place(order, by_secret(card, 30_00)), metadata=checkout)
    ).holds
    assert hold.state == res.HOLD_STATE_HELD
    assert await balance(giftcard_app, card) == (70_00, 30_00)
    event = commerce.OrderPaid(
        order_id=order,
        member_id=str(uuid.uuid4()),
        currency_code="CNY",
        paid_amount_minor=100_00,
        gift_card_hold_ids=[hold.hold_id],
        gift_card_amount_minor=30_00,
    )
    for _ in range(3):  # the same payment three times (three deliveries of new ids)
        await publish(PAID, order, event)
    await consumed(PAID, 3)
    assert await balance(giftcard_app, card) == (70_00, 0)
    got = (await wallet.GetOrder(pb.GetOrderRequest(order_id=order), metadata=checkout)).order
    assert got.payment.captured_minor == 30_00 and got.payment.problem == ""
    assert got.holds[0].state == res.HOLD_STATE_CAPTURED
    (redeemed,) = await tap.wait_for("loyalty.giftcard.card.redeemed.v1", str(card.card_id))
    assert redeemed.data["amountMinor"] == "3000"
    await books_are_right(giftcard_app)


async def test_fifty_concurrent_redemptions_on_one_card_never_take_more_than_it_has(
    wallet, cards, checkout, giftcard_app
):
    card = await cards.card(100_00)

    async def redeem(n: int):
        try:
            (hold,) = (
                await wallet.PlaceHolds(place(f"o-{n}", by_secret(card, 7_00)), metadata=checkout)
            ).holds
            await wallet.CaptureHold(
                pb.CaptureHoldRequest(request_id=uid(), hold_id=hold.hold_id), metadata=checkout
            )
            return 7_00
        except grpc.aio.AioRpcError as exc:
            assert exc.code() == grpc.StatusCode.FAILED_PRECONDITION, exc
            return 0

    taken = await asyncio.gather(*(redeem(n) for n in range(50)))
    assert sum(taken) == 14 * 7_00  # 100.00 holds fourteen 7.00 redemptions, not fifteen
    assert await balance(giftcard_app, card) == (100_00 - sum(taken), 0)
    await books_are_right(giftcard_app)


async def test_several_cards_on_one_order_each_get_back_exactly_what_they_gave(
    wallet, cards, checkout, giftcard_app, publish, consumed
):
    first, second = await cards.card(50_00), await cards.card(80_00)
    order = uid()
    holds = (
        await wallet.PlaceHolds(
            place(order, by_secret(first, 50_00), by_secret(second, 30_00), total=120_00),
            metadata=checkout,
        )
    ).holds
    member = str(uuid.uuid4())
    await publish(
        PAID,
        order,
        commerce.OrderPaid(
            order_id=order,
            member_id=member,
            currency_code="CNY",
            gift_card_hold_ids=[h.hold_id for h in holds],
            gift_card_amount_minor=80_00,
        ),
    )
    await consumed(PAID)
    # The refund goes back to the last card first: 30.00 to the second, 10.00 to the first.
    await publish(
        REFUNDED,
        order,
        commerce.OrderRefunded(
            order_id=order, member_id=member, refund_id="r1", gift_card_amount_minor=40_00
        ),
    )
    await consumed(REFUNDED)
    assert await balance(giftcard_app, first) == (10_00, 0)
    assert await balance(giftcard_app, second) == (80_00, 0)
    # Everything else back, then more than was taken: only what is left goes back.
    await publish(
        REFUNDED,
        order,
        commerce.OrderRefunded(
            order_id=order, member_id=member, refund_id="r2", gift_card_amount_minor=90_00
        ),
    )
    await consumed(REFUNDED, 2)
    assert await balance(giftcard_app, first) == (50_00, 0)
    got = (await wallet.GetOrder(pb.GetOrderRequest(order_id=order), metadata=checkout)).order
    r2 = [r for r in got.refunds if r.refund_id == "r2"][0]
    assert (r2.returned_minor, r2.unreturned_minor) == (40_00, 50_00)
    await books_are_right(giftcard_app)


async def test_a_refund_before_its_payment_waits_for_it_and_applies_once(
    wallet, cards, checkout, giftcard_app, publish, consumed
):
    card = await cards.card(60_00)
    order = uid()
    (hold,) = (
        await wallet.PlaceHolds(place(order, by_secret(card, 60_00)), metadata=checkout)
    ).holds
    member = str(uuid.uuid4())
    refund = commerce.OrderRefunded(
        order_id=order, member_id=member, refund_id="r1", gift_card_amount_minor=20_00
    )
    await publish(REFUNDED, order, refund)
    await publish(REFUNDED, order, refund)  # twice, with another event id
    await consumed(REFUNDED, 2)
    await publish(
        PAID,
        order,
        commerce.OrderPaid(
            order_id=order,
            member_id=member,
            currency_code="CNY",
            gift_card_hold_ids=[hold.hold_id],
            gift_card_amount_minor=60_00,
        ),
    )
    await consumed(PAID)
    assert await balance(giftcard_app, card) == (20_00, 0)
    await books_are_right(giftcard_app)


async def test_a_cancelled_order_releases_its_holds(
    wallet, cards, checkout, giftcard_app, publish, consumed
):
    card = await cards.card(60_00)
    order = uid()
    await wallet.PlaceHolds(place(order, by_secret(card, 25_00)), metadata=checkout)
    await publish(CANCELLED, order, commerce.OrderCancelled(order_id=order))
    await consumed(CANCELLED)
    assert await balance(giftcard_app, card) == (60_00, 0)
    got = (await wallet.GetOrder(pb.GetOrderRequest(order_id=order), metadata=checkout)).order
    assert got.holds[0].state == res.HOLD_STATE_RELEASED


async def test_holds_past_their_time_expire_and_cannot_be_captured(
    wallet, cards, checkout, giftcard_app, clock
):
    card = await cards.card(60_00)
    (hold,) = (
        await wallet.PlaceHolds(place(uid(), by_secret(card, 25_00)), metadata=checkout)
    ).holds
    clock.advance(seconds=giftcard_app.settings.hold_seconds + 1)
    await fails(
        wallet.CaptureHold(
            pb.CaptureHoldRequest(request_id=uid(), hold_id=hold.hold_id), metadata=checkout
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
        "HOLD_EXPIRED",
    )
    assert await giftcard_app.usecases.holds.expire_due(giftcard_app.pool, 100) == 1
    assert await giftcard_app.usecases.holds.expire_due(giftcard_app.pool, 100) == 0
    assert await balance(giftcard_app, card) == (60_00, 0)


async def test_a_hold_refused_holds_nothing(wallet, cards, checkout, giftcard_app):
    rich, poor = await cards.card(100_00), await cards.card(10_00)
    order = uid()
    await fails(
        wallet.PlaceHolds(
            place(order, by_secret(rich, 50_00), by_secret(poor, 20_00)), metadata=checkout
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
        "INSUFFICIENT_BALANCE",
    )
    assert await balance(giftcard_app, rich) == (100_00, 0)
    frozen = await cards.card(30_00, state="frozen")
    await fails(
        wallet.PlaceHolds(place(uid(), by_secret(frozen, 10_00)), metadata=checkout),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    await wait_until(lambda: _no_holds(giftcard_app), 1, "no holds")


async def _no_holds(giftcard_app) -> bool:
    return await giftcard_app.pool.fetchval("SELECT count(*) = 0 FROM holds")


async def test_a_bound_card_pays_for_its_member_only_and_a_lost_card_spends_nothing(
    wallet, cards, checkout, giftcard_app, mint, tap
):
    member, stranger = str(uuid.uuid4()), str(uuid.uuid4())
    card = await cards.card(80_00)
    bound = await wallet.BindCard(
        pb.BindCardRequest(request_id=uid(), member_id=member, card=secret(card)),
        metadata=mint(member),
    )
    assert bound.card.member_id == member
    await fails(
        wallet.BindCard(
            pb.BindCardRequest(request_id=uid(), member_id=stranger, card=secret(card)),
            metadata=mint(stranger),
        ),
        grpc.StatusCode.ALREADY_EXISTS,
        "CARD_BOUND_TO_ANOTHER_MEMBER",
    )
    listed = await wallet.ListMemberCards(
        pb.ListMemberCardsRequest(member_id=member), metadata=mint(member)
    )
    assert [c.card_id for c in listed.cards] == [str(card.card_id)]

    def bound_source(amount: int) -> pb.HoldSource:
        return pb.HoldSource(
            kind=res.HOLD_SOURCE_KIND_BOUND_CARD, card_id=str(card.card_id), amount_minor=amount
        )

    # Another member cannot spend it by its id, even through the storefront.
    await fails(
        wallet.PlaceHolds(place(uid(), bound_source(10_00), member_id=stranger), metadata=checkout),
        grpc.StatusCode.NOT_FOUND,
    )
    (hold,) = (
        await wallet.PlaceHolds(
            place(uid(), bound_source(10_00), member_id=member), metadata=checkout
        )
    ).holds
    lost = await wallet.ReportCardLost(
        pb.ReportCardLostRequest(request_id=uid(), card_id=str(card.card_id)), metadata=mint(member)
    )
    assert lost.card.state == res.CARD_STATE_LOST
    assert await balance(giftcard_app, card) == (80_00, 0)  # its hold went back
    got = await wallet.GetHold(pb.GetHoldRequest(hold_id=hold.hold_id), metadata=checkout)
    assert got.hold.state == res.HOLD_STATE_RELEASED
    await tap.wait_for("loyalty.giftcard.card.reported_lost.v1", str(card.card_id))
    await fails(
        wallet.PlaceHolds(place(uid(), by_secret(card, 5_00)), metadata=checkout),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    # Back in hand: the member proves it with the PIN.
    back = await wallet.CancelCardLossReport(
        pb.CancelCardLossReportRequest(request_id=uid(), card_id=str(card.card_id), pin=card.pin),
        metadata=mint(member),
    )
    assert back.card.state == res.CARD_STATE_ACTIVE
    entries = await wallet.ListCardEntries(
        pb.ListCardEntriesRequest(card_id=str(card.card_id)), metadata=mint(member)
    )
    assert [e.kind for e in entries.entries][:2] == [
        res.CARD_ENTRY_KIND_HOLD_RELEASE,
        res.CARD_ENTRY_KIND_HOLD_RELEASE,
    ]
    await books_are_right(giftcard_app)


async def test_a_card_awaiting_a_refund_takes_no_holds(
    giftcard, wallet, cards, checkout, staff, giftcard_app
):
    card = await cards.card(100_00)
    asked = await giftcard.RequestCardRefund(
        gpb.RequestCardRefundRequest(request_id=uid(), card_number=card.card_number, reason="gift"),
        metadata=staff("sara", "sales"),
    )
    assert asked.after_sale.state == res.AFTER_SALE_STATE_PENDING_APPROVAL
    await fails(
        wallet.PlaceHolds(place(uid(), by_secret(card, 10_00)), metadata=checkout),
        grpc.StatusCode.FAILED_PRECONDITION,
        "CARD_AFTER_SALE_PENDING",
    )
    assert await balance(giftcard_app, card) == (100_00, 0)
