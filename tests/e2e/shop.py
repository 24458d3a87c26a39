"""What the storefront reads over gRPC in the day to show a member's points, growth and
subscription (its orders are tools/suite/orders.py's, published through its client)."""

from __future__ import annotations

from loyalty.growth.v1 import growth_service_pb2 as gpb
from loyalty.growth.v1 import resources_pb2 as gres
from loyalty.points.v1 import points_service_pb2 as ppb
from loyalty.subscription.v1 import subscription_service_pb2 as spb
from tests.e2e.callers import Callers


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
