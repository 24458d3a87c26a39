"""The storefront's side of the orders: the commerce events it publishes through its client
(loyalty_storefront, as the storefront's broker user), each with an event id drawn from the
seed and every time from the plan, so that a second run publishes the same events again and
the suite applies each once (its inbox keeps the ids; a same id with other content would be
refused). A checkout paid partly with points or a gift card holds them over gRPC first."""

from __future__ import annotations

import asyncio
import datetime as dt

from google.protobuf.timestamp_pb2 import Timestamp

from loyalty.commerce.v1 import events_pb2 as commerce
from loyalty.giftcard.v1 import resources_pb2 as gcres
from loyalty.giftcard.v1 import wallet_service_pb2 as wpb
from loyalty.points.v1 import points_service_pb2 as ppb
from loyalty_storefront import NotRouted, Storefront
from tools.suite import orders

from .people import Callers
from .plan import Order
from .target import call, ident

CURRENCY = "CNY"


def stamp(when: dt.datetime) -> Timestamp:
    timestamp = Timestamp()
    timestamp.FromDatetime(when.astimezone(dt.UTC).replace(tzinfo=None))
    return timestamp


class Shop:
    """Publishes a member's orders: paid, then completed, refunded and reviewed as the plan
    dates them."""

    def __init__(self, store: Storefront, call: Callers, seed: int) -> None:
        self.store = store
        self.call = call
        self.seed = seed

    async def publish(self, message, key: str) -> None:
        """One event, under the id the seed gives `key`. The broker may not route it yet while
        the services are still binding their queues: then it is sent again, same id."""
        for attempt in range(20):
            try:
                await self.store.publish(message, event_id=ident(self.seed, "event", key))
                return
            except NotRouted:
                if attempt == 19:
                    raise
                await asyncio.sleep(0.5)

    async def orders(self, member_id: str, orders: list[Order], cards: dict[str, str]) -> None:
        """Every event of `orders`, one order after the other (`cards`: the member's bound card
        id by order id, for those paid partly with it)."""
        for order in orders:
            await self.paid(member_id, order, cards.get(order.order_id))
            if order.completed_at is not None:
                completed = commerce.OrderCompleted(
                    order_id=order.order_id,
                    member_id=member_id,
                    completed_time=stamp(order.completed_at),
                )
                await self.publish(completed, f"{order.order_id}:completed")
            if order.refund is not None:
                refund = order.refund
                refunded = commerce.OrderRefunded(
                    order_id=order.order_id,
                    member_id=member_id,
                    refund_id=refund.refund_id,
                    currency_code=CURRENCY,
                    lines=[commerce.RefundLine(line_id=i, amount_minor=a) for i, a in refund.lines],
                    refunded_amount_minor=refund.amount_minor,
                    refund_time=stamp(refund.at),
                )
                await self.publish(refunded, f"{order.order_id}:refunded")
            if order.review is not None:
                review_id, posted, photos = order.review
                review = commerce.ReviewPosted(
                    review_id=review_id,
                    order_id=order.order_id,
                    member_id=member_id,
                    has_photos=photos,
                    posted_time=stamp(posted),
                )
                await self.publish(review, f"{order.order_id}:reviewed")

    async def paid(self, member_id: str, order: Order, card_id: str | None) -> None:
        holds: dict = {}
        if order.points_used:
            held = await call(
                self.call.points.ReserveHold,
                ppb.ReserveHoldRequest(
                    request_id=ident(self.seed, "points-hold", order.order_id),
                    member_id=member_id,
                    order_id=order.order_id,
                    points=order.points_used,
                    order_amount_minor=sum(line.amount_minor for line in order.lines),
                ),
                self.call.shop,
            )
            holds.update(points_hold_id=held.hold.hold_id, points_used=order.points_used)
        if order.card_minor and card_id:
            placed = await call(
                self.call.wallet.PlaceHolds,
                wpb.PlaceHoldsRequest(
                    request_id=ident(self.seed, "card-hold", order.order_id),
                    order_id=order.order_id,
                    member_id=member_id,
                    currency_code=CURRENCY,
                    order_amount_minor=order.paid_minor,
                    channel="online",
                    sources=[
                        wpb.HoldSource(
                            kind=gcres.HOLD_SOURCE_KIND_BOUND_CARD,
                            card_id=card_id,
                            amount_minor=order.card_minor,
                        )
                    ],
                ),
                self.call.shop,
            )
            holds.update(
                gift_card_hold_ids=[hold.hold_id for hold in placed.holds],
                gift_card_amount_minor=order.card_minor,
            )
        card = holds.get("gift_card_amount_minor", 0)
        lines = [
            orders.line(line.line_id, line.category, line.amount_minor, line.paid_minor)
            for line in order.lines
        ]
        platform = order.paid_minor - card if order.platform else 0
        paid = orders.order_paid(
            order.order_id, member_id, lines, platform_payment_amount_minor=platform, **holds
        )
        paid.paid_time.CopyFrom(stamp(order.paid_at))  # the plan's time: the year's are past
        await self.publish(paid, f"{order.order_id}:paid")
