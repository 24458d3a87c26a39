"""Load on points: a client spending and earning over gRPC (adjustments, redemptions, checkout
holds captured or released), and a storefront paying orders with points holds, completing them
and posting reviews through its client (commerce events, each id kept). Each client owns its
members, so it knows what their points must be: `Account` is that model, which the checks
hold the service to."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from dataclasses import dataclass, field

import grpc

from loyalty.commerce.v1 import events_pb2 as commerce
from loyalty.points.v1 import points_service_pb2 as ppb
from loyalty.points.v1 import resources_pb2 as pres
from tools.suite.callers import uid
from tools.suite.orders import line, now, order_paid

from .book import Book, GaveUp

K = pres.LedgerEntryKind
SIGN_UP_BONUS = 100
REVIEW_POINTS = 20  # the `review` rule's points (daily cap 100: at most 4 reviews a member here)
REVIEWS_PER_MEMBER = 4


@dataclass
class Order:
    """A storefront order: what was paid, the rebate it earns (1 point a whole CNY)."""

    order_id: str
    member_id: str
    paid_minor: int
    rebate: int
    points_used: int = 0
    hold_id: str = ""
    completed: bool = False


@dataclass
class Account:
    """A member's points as its one client knows them: buckets, holds (points, state) and the
    ledger transactions its acknowledged requests and events must have made, by kind."""

    member_id: str
    available: int = SIGN_UP_BONUS
    pending: int = 0
    held: int = 0
    kinds: Counter[int] = field(default_factory=lambda: Counter({K.LEDGER_ENTRY_KIND_CREDIT: 1}))
    holds: dict[str, list] = field(default_factory=dict)  # hold_id → [points, HoldState]
    transactions: list[str] = field(default_factory=list)  # the ids the RPCs answered
    orders: dict[str, Order] = field(default_factory=dict)
    reviews: list[str] = field(default_factory=list)

    def credited(self, points: int, transaction_id: str) -> None:
        self.available += points
        self.kinds[K.LEDGER_ENTRY_KIND_ADJUST] += 1
        self.transactions.append(transaction_id)


async def adjust(book: Book, account: Account, delta: int, caller: str = "admin") -> None:
    done = await book.call(
        caller,
        "points",
        "Adjust",
        ppb.AdjustRequest(
            request_id=uid(), member_id=account.member_id, delta=delta, reason="chaos"
        ),
    )
    account.credited(delta, done.transaction_id)


async def reserve(book: Book, account: Account, points: int, order_id: str, amount: int) -> str:
    done = await book.call(
        "shop",
        "points",
        "ReserveHold",
        ppb.ReserveHoldRequest(
            request_id=uid(),
            member_id=account.member_id,
            order_id=order_id,
            points=points,
            order_amount_minor=amount,
        ),
    )
    hold_id = done.hold.hold_id
    account.available -= points
    account.held += points
    account.holds[hold_id] = [points, pres.HOLD_STATE_HELD]
    account.kinds[K.LEDGER_ENTRY_KIND_HOLD] += 1
    return hold_id


class AccountsLoad:
    """A client acting on its own members, one at a time, each step on a member drawn at random
    until `stop`; a refusal is noted, not fatal."""

    what = ""  # the client, in the refusals noted
    pause = (0.0, 0.0)  # seconds between steps, at least and at most

    def __init__(self, book: Book, accounts: list[Account], rng: random.Random) -> None:
        self.book, self.accounts, self.rng = book, accounts, rng

    async def run(self, stop: asyncio.Event) -> None:
        try:
            while not stop.is_set():
                account = self.rng.choice(self.accounts)
                try:
                    await self.step(account)
                except grpc.aio.AioRpcError as exc:
                    self.book.refused(f"{self.what} for {account.member_id}", exc)
                await asyncio.sleep(self.rng.uniform(*self.pause))
        except GaveUp:
            pass

    async def step(self, a: Account) -> None:
        raise NotImplementedError


class PointsLoad(AccountsLoad):
    """Earning and spending over gRPC on its own members."""

    what, pause = "points", (0.02, 0.1)

    async def step(self, a: Account) -> None:
        rng, book = self.rng, self.book
        held = [h for h, (_, state) in a.holds.items() if state == pres.HOLD_STATE_HELD]
        roll = rng.random()
        if held and roll < 0.35:
            hold_id = rng.choice(held)
            points = a.holds[hold_id][0]
            if rng.random() < 0.6:
                done = await book.call(
                    "shop",
                    "points",
                    "CaptureHold",
                    ppb.CaptureHoldRequest(request_id=uid(), hold_id=hold_id),
                )
                a.holds[hold_id][1] = pres.HOLD_STATE_CAPTURED
                a.held -= points
                a.kinds[K.LEDGER_ENTRY_KIND_HOLD_CAPTURE] += 1
                a.transactions.append(done.transaction_id)
            else:
                await book.call(
                    "shop",
                    "points",
                    "ReleaseHold",
                    ppb.ReleaseHoldRequest(request_id=uid(), hold_id=hold_id),
                )
                a.holds[hold_id][1] = pres.HOLD_STATE_RELEASED
                a.held -= points
                a.available += points
                a.kinds[K.LEDGER_ENTRY_KIND_HOLD_RELEASE] += 1
        elif a.available < 300 or roll < 0.55:
            await adjust(book, a, rng.randint(100, 2_000))
        elif roll < 0.8:
            points = rng.randint(1, min(a.available, 300))
            done = await book.call(
                "shop",
                "points",
                "Redeem",
                ppb.RedeemRequest(
                    request_id=uid(),
                    member_id=a.member_id,
                    points=points,
                    catalogue_item="coupon.free_shipping",
                    reference=f"chaos-{uid()}",
                ),
            )
            a.available -= points
            a.kinds[K.LEDGER_ENTRY_KIND_DEBIT] += 1
            a.transactions.append(done.transaction_id)
        else:
            points = rng.randint(1, min(a.available, 500))
            await reserve(book, a, points, f"order-{uid()}", points * 4)


class StorefrontLoad(AccountsLoad):
    """A storefront's orders for its own members: a points hold at checkout (over gRPC), then
    order.paid, order.completed once points shows the payment, and reviews (its client)."""

    what, pause = "storefront", (0.05, 0.15)

    async def step(self, a: Account) -> None:
        rng = self.rng
        roll = rng.random()
        open_orders = [o for o in a.orders.values() if not o.completed]
        if open_orders and roll < 0.35:
            await self.complete(a, rng.choice(open_orders))
        elif a.orders and roll < 0.45 and len(a.reviews) < REVIEWS_PER_MEMBER:
            order = rng.choice(list(a.orders.values()))
            review_id = f"review-{uid()}"
            await self.book.publish(
                commerce.ReviewPosted(
                    review_id=review_id,
                    order_id=order.order_id,
                    member_id=a.member_id,
                    posted_time=now(),
                ),
                uid(),
            )
            a.reviews.append(review_id)
            a.available += REVIEW_POINTS
            a.kinds[K.LEDGER_ENTRY_KIND_CREDIT] += 1
        else:
            await self.pay(a)

    async def pay(self, a: Account) -> None:
        order_id = f"order-{uid()}"
        amount = self.rng.randint(10_00, 500_00)
        points = 0
        hold_id = ""
        if a.available >= 100 and self.rng.random() < 0.5:
            points = self.rng.randint(100, min(a.available, amount // 4))
            hold_id = await reserve(self.book, a, points, order_id, amount)
        paid = amount - points  # 100 points are 1 CNY off
        await self.book.publish(
            order_paid(
                order_id,
                a.member_id,
                [line("l-1", "books", amount, paid, sku="sku-chaos")],
                points_hold_id=hold_id,
                points_used=points,
                platform_payment_amount_minor=paid,
            ),
            uid(),
        )
        order = Order(order_id, a.member_id, paid, paid // 100, points, hold_id)
        a.orders[order_id] = order
        if hold_id:  # order.paid captures the hold
            a.held -= points
            a.holds[hold_id][1] = pres.HOLD_STATE_CAPTURED
            a.kinds[K.LEDGER_ENTRY_KIND_HOLD_CAPTURE] += 1
        a.pending += order.rebate
        a.kinds[K.LEDGER_ENTRY_KIND_PENDING_CREDIT] += 1

    async def complete(self, a: Account, order: Order) -> None:
        """order.completed, once points shows the payment applied (a storefront completes an
        order days after it was paid; its events are not redelivered out of order then)."""
        try:
            got = await self.book.read(
                "shop", "points", "GetOrder", ppb.GetOrderRequest(order_id=order.order_id)
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:  # order.paid not applied yet
                return
            raise
        if not got.order.payment.HasField("apply_time"):
            return
        await self.book.publish(
            commerce.OrderCompleted(
                order_id=order.order_id, member_id=a.member_id, completed_time=now()
            ),
            uid(),
        )
        order.completed = True
        a.pending -= order.rebate
        a.available += order.rebate
        a.kinds[K.LEDGER_ENTRY_KIND_PENDING_CONFIRM] += 1
