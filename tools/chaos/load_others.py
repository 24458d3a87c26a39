"""Load on giftcard, subscription and identity: checkout holds on gift cards captured over gRPC
or by the storefront's order.paid, or released; paid memberships bought and paid three ways
(the payment provider, the storefront's payment event, ConfirmPayment); shoppers registering.
Each client keeps the model of what it owns that the checks hold the services to."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from loyalty.commerce.v1 import events_pb2 as commerce
from loyalty.giftcard.v1 import resources_pb2 as gres
from loyalty.giftcard.v1 import wallet_service_pb2 as wpb
from loyalty.subscription.v1 import resources_pb2 as sres
from loyalty.subscription.v1 import subscription_service_pb2 as spb
from tools.suite.callers import uid
from tools.suite.orders import line, now, order_paid

from .book import Book, GaveUp
from .setup import CARD_FACE_MINOR, PLAN, register

Step = Callable[[], Awaitable[None]]


async def loop(book: Book, stop: asyncio.Event, step: Step, pause: tuple[float, float]) -> None:
    """`step` until `stop`, pausing between steps; a refusal is noted, not fatal."""
    try:
        while not stop.is_set():
            try:
                await step()
            except grpc.aio.AioRpcError as exc:
                book.refused(step.__qualname__, exc)
            await asyncio.sleep(book.rng.uniform(*pause))
    except GaveUp:
        pass


@dataclass
class CardHold:
    hold_id: str
    order_id: str
    amount: int
    state: gres.HoldState.ValueType = gres.HOLD_STATE_HELD
    by_event: bool = False  # captured by order.paid rather than CaptureHold


@dataclass
class Card:
    number: str
    pin: str
    card_id: str = ""
    balance: int = CARD_FACE_MINOR
    held: int = 0
    holds: dict[str, CardHold] = field(default_factory=dict)

    @property
    def secret(self) -> wpb.CardSecret:
        return wpb.CardSecret(card_number=self.number, pin=self.pin)


class GiftcardLoad:
    def __init__(self, book: Book, cards: list[Card], members: list[str], rng: random.Random):
        self.book, self.cards, self.members, self.rng = book, cards, members, rng
        self.orders: list[tuple[str, str]] = []  # (member, order) paid by order.paid

    async def step(self) -> None:
        card = self.rng.choice(self.cards)
        held = [h for h in card.holds.values() if h.state == gres.HOLD_STATE_HELD]
        roll = self.rng.random()
        if held and roll < 0.5:
            hold = self.rng.choice(held)
            how = self.rng.random()
            if how < 0.45:
                await self.book.call(
                    "shop",
                    "wallet",
                    "CaptureHold",
                    wpb.CaptureHoldRequest(request_id=uid(), hold_id=hold.hold_id),
                )
                hold.state = gres.HOLD_STATE_CAPTURED
            elif how < 0.75:
                await self.paid_by_event(hold)
            else:
                await self.book.call(
                    "shop",
                    "wallet",
                    "ReleaseHold",
                    wpb.ReleaseHoldRequest(request_id=uid(), hold_id=hold.hold_id),
                )
                hold.state = gres.HOLD_STATE_RELEASED
                card.balance += hold.amount
            card.held -= hold.amount
        elif card.balance >= 100:
            amount = self.rng.randint(100, min(card.balance, 20_00))
            order_id = f"order-{uid()}"
            placed = await self.book.call(
                "shop",
                "wallet",
                "PlaceHolds",
                wpb.PlaceHoldsRequest(
                    request_id=uid(),
                    order_id=order_id,
                    member_id=self.rng.choice(self.members),
                    currency_code="CNY",
                    order_amount_minor=amount,
                    channel="online",
                    sources=[
                        wpb.HoldSource(
                            kind=gres.HOLD_SOURCE_KIND_CARD_SECRET,
                            card=card.secret,
                            amount_minor=amount,
                        )
                    ],
                ),
            )
            hold_id = placed.holds[0].hold_id
            card.holds[hold_id] = CardHold(hold_id, order_id, amount)
            card.balance -= amount
            card.held += amount

    async def paid_by_event(self, hold: CardHold) -> None:
        """The storefront's order.paid names the hold: giftcard captures it."""
        member = self.rng.choice(self.members)
        await self.book.publish(
            order_paid(
                hold.order_id,
                member,
                [line("l-1", "books", hold.amount, hold.amount, sku="sku-card")],
                gift_card_hold_ids=[hold.hold_id],
                gift_card_amount_minor=hold.amount,
            ),
            uid(),
        )
        hold.state = gres.HOLD_STATE_CAPTURED
        hold.by_event = True
        self.orders.append((member, hold.order_id))


@dataclass
class Subscriber:
    member_id: str
    orders: list[tuple[str, str]] = field(default_factory=list)  # (order_id, how it was paid)
    waiting: str = ""  # an order not seen PAID yet: the next waits for it


MAX_TERMS = 30  # stacked months stay well within the 3-year stacking limit
PRICE = PLAN.price


class SubscriptionLoad:
    def __init__(self, book: Book, subscribers: list[Subscriber], rng: random.Random):
        self.book, self.subscribers, self.rng = book, subscribers, rng

    async def step(self) -> None:
        s = self.rng.choice(self.subscribers)
        if s.waiting:
            got = await self.book.read(
                "shop",
                "subscription",
                "GetSubscriptionOrder",
                spb.GetSubscriptionOrderRequest(order_id=s.waiting),
            )
            if got.order.state == sres.ORDER_STATE_PAID:
                s.waiting = ""
            return
        if len(s.orders) >= MAX_TERMS:
            return
        how = self.rng.choice(["provider", "storefront", "confirm"])
        collection = (
            sres.PAYMENT_COLLECTION_PROVIDER
            if how == "provider"
            else sres.PAYMENT_COLLECTION_STOREFRONT
        )
        ordered = await self.book.call(
            "shop",
            "subscription",
            "CreateSubscriptionOrder",
            spb.CreateSubscriptionOrderRequest(
                request_id=uid(), member_id=s.member_id, plan_id=PLAN.plan_id, collection=collection
            ),
        )
        order_id = ordered.order.order_id
        s.orders.append((order_id, how))
        s.waiting = order_id
        if how == "storefront":
            await self.book.publish(
                commerce.PaymentSucceeded(
                    payment_id=f"pay-{order_id}",
                    member_id=s.member_id,
                    purpose="subscription",
                    reference_id=order_id,
                    amount=PRICE,
                    succeeded_time=now(),
                ),
                uid(),
            )
        elif how == "confirm":
            await self.book.call(
                "shop",
                "subscription",
                "ConfirmPayment",
                spb.ConfirmPaymentRequest(
                    request_id=uid(), order_id=order_id, payment_id=f"pay-{order_id}", amount=PRICE
                ),
            )


class IdentityLoad:
    """Shoppers registering in the app, each with the code sent to a phone number of its own."""

    def __init__(self, book: Book, codes_dir: Path, phones: PhoneBook):
        self.book, self.codes_dir, self.phones = book, codes_dir, phones
        self.members: list[tuple[str, str]] = []  # (phone, member_id)

    async def step(self) -> None:
        phone = self.phones.next()
        self.members.append((phone, await register(self.book, self.codes_dir, phone)))


class PhoneBook:
    """Mainland mobile numbers, a new one per registration (each run has a database of its own)."""

    def __init__(self) -> None:
        self.count = 0

    def next(self) -> str:
        self.count += 1
        return f"139{self.count:08d}"
