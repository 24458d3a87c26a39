"""The storefront's side of the day: its orders (what it publishes through its client) and the
reads it makes to show a member's points, growth and subscription (over gRPC)."""

from __future__ import annotations

import datetime as dt

from google.protobuf.timestamp_pb2 import Timestamp

from loyalty.commerce.v1 import events_pb2 as commerce
from loyalty.growth.v1 import growth_service_pb2 as gpb
from loyalty.growth.v1 import resources_pb2 as gres
from loyalty.points.v1 import points_service_pb2 as ppb
from loyalty.subscription.v1 import resources_pb2 as sres
from loyalty.subscription.v1 import subscription_service_pb2 as spb
from loyalty.type.v1 import money_pb2
from tests.e2e.callers import Callers

# What the storefront sells as paid membership: 19 CNY a month, 10x points, 5% off.
PLUS = sres.Plan(
    plan_id="plus_monthly",
    display_name="PLUS monthly",
    kind=sres.PLAN_KIND_MONTHLY,
    price=money_pb2.Money(currency_code="CNY", amount_minor=19_00),
    points_multiplier=10,
    member_discount_bps=500,
    on_sale=True,
)


def now() -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(dt.datetime.now(dt.UTC))
    return stamp


def line(line_id: str, category: str, amount: int, paid: int) -> commerce.OrderLine:
    """One unit of a product of `category`: its list price and what was paid for it."""
    return commerce.OrderLine(
        line_id=line_id,
        sku=f"sku-{line_id}",
        category=category,
        quantity=1,
        amount_minor=amount,
        paid_amount_minor=paid,
    )


def order_paid(order_id: str, member_id: str, lines: list[commerce.OrderLine], **fields):
    """An order paid in CNY: `paid_amount_minor` is what the lines' paid amounts add up to."""
    return commerce.OrderPaid(
        order_id=order_id,
        member_id=member_id,
        currency_code="CNY",
        lines=lines,
        paid_amount_minor=sum(line.paid_amount_minor for line in lines),
        paid_time=now(),
        merchant_id="shop-1",
        **fields,
    )


class Reads:
    """What the storefront's backend reads (its own service token)."""

    def __init__(self, call: Callers) -> None:
        self.call = call

    async def balance(self, member_id: str) -> tuple[int, int, int, int]:
        """(available, pending, held, debt)."""
        got = await self.call.points.GetBalance(
            ppb.GetBalanceRequest(member_id=member_id), metadata=self.call.shop
        )
        b = got.balance
        return b.available, b.pending, b.held, b.debt

    async def balance_is(self, member_id: str, expected: tuple[int, int, int, int]) -> bool:
        return (await self.balance(member_id)) == expected

    async def order(self, order_id: str):
        got = await self.call.points.GetOrder(
            ppb.GetOrderRequest(order_id=order_id), metadata=self.call.shop
        )
        return got.order

    async def growth(self, member_id: str) -> gres.MemberGrowth:
        got = await self.call.growth.GetMemberGrowth(
            gpb.GetMemberGrowthRequest(member_id=member_id), metadata=self.call.shop
        )
        return got.growth

    async def score_now(self, member_id: str) -> dict[str, int]:
        """The provisional score's components and parts by name (`account`, `consumption`,
        `spend`, `platform_payment`, …) and `score`, as ExplainScore gives them."""
        got = await self.call.growth.ExplainScore(
            gpb.ExplainScoreRequest(member_id=member_id, provisional=True),
            metadata=self.call.shop,
        )
        found = {"score": got.explanation.score}
        for component in got.explanation.components:
            name = gres.Component.Name(component.component).removeprefix("COMPONENT_").lower()
            found[name] = component.value
            found.update({part.name: part.points for part in component.parts})
        return found

    async def score_is(self, member_id: str, **expected: int) -> bool:
        """Whether the provisional score has the `expected` figures (by score_now's names)."""
        found = await self.score_now(member_id)
        return all(found.get(name) == value for name, value in expected.items())

    async def subscription(self, member_id: str):
        got = await self.call.subscription.GetMemberSubscription(
            spb.GetMemberSubscriptionRequest(member_id=member_id), metadata=self.call.shop
        )
        return got.subscription

    async def benefits(self, member_id: str):
        got = await self.call.subscription.GetMemberBenefits(
            spb.GetMemberBenefitsRequest(member_id=member_id), metadata=self.call.shop
        )
        return got.benefits
