"""Benefits and perk pools through subscription's public API: a plan with a coupon pack, a
service perk and (given a pool) a partner perk; a paid subscription for a member (an order paid
at the storefront's cashier); perk pools filled with codes; claims."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator

import grpc

from loyalty.subscription.v1 import resources_pb2 as res
from loyalty.subscription.v1 import subscription_admin_service_pb2 as admin_pb
from loyalty.subscription.v1 import subscription_service_pb2 as pb
from loyalty.subscription.v1 import subscription_service_pb2_grpc as pb_grpc
from loyalty.type.v1 import money_pb2
from tests.support.ids import uid

PLAN = "plus_monthly"
PRICE = 15_00
SHIPPING = "free_shipping"  # 4 a month, 6.00 CNY each
PICKUP = "return_pickup"  # 2 a month
VIDEO = "video_vip"  # a partner perk, 1 a year
CLAIMED = "loyalty.subscription.subscription.benefit_claimed.v1"
INVENTORY_LOW = "loyalty.subscription.perk.inventory_low.v1"


@contextlib.asynccontextmanager
async def connections(app, count: int) -> AsyncIterator[list[pb_grpc.SubscriptionServiceStub]]:
    """Stubs on `count` connections of their own, as many clients would have: one connection
    carries at most LOYALTY_GRPC_MAX_STREAMS_PER_CONNECTION calls at a time."""
    # A local subchannel pool: channels to one address would otherwise share one connection.
    options = [("grpc.use_local_subchannel_pool", 1)]
    target = f"127.0.0.1:{app.grpc_port}"
    channels = [grpc.aio.insecure_channel(target, options=options) for _ in range(count)]
    try:
        yield [pb_grpc.SubscriptionServiceStub(c) for c in channels]
    finally:
        for channel in channels:
            await channel.close()


def cny(minor: int) -> money_pb2.Money:
    return money_pb2.Money(currency_code="CNY", amount_minor=minor)


def benefits(pool_id: str | None = None) -> list[res.Benefit]:
    given = [
        res.Benefit(
            benefit_id=SHIPPING,
            kind=res.BENEFIT_KIND_COUPON_PACK,
            display_name="Free shipping",
            quantity=4,
            value=cny(6_00),
            coupon_template_id="tpl-shipping",
        ),
        res.Benefit(
            benefit_id=PICKUP,
            kind=res.BENEFIT_KIND_SERVICE_PERK,
            display_name="Free return pickup",
            quantity=2,
            value=cny(10_00),
            service_code="free_return_pickup",
        ),
    ]
    if pool_id is not None:
        given.append(
            res.Benefit(
                benefit_id=VIDEO,
                kind=res.BENEFIT_KIND_PARTNER_PERK,
                display_name="Video VIP year",
                quantity=1,
                quota_period=res.QUOTA_PERIOD_YEAR,
                value=cny(30_00),
                perk_pool_id=pool_id,
            )
        )
    return given


async def create_plan(admin, operator, pool_id: str | None = None) -> res.Plan:
    plan = res.Plan(
        plan_id=PLAN,
        display_name="PLUS monthly",
        kind=res.PLAN_KIND_MONTHLY,
        price=cny(PRICE),
        member_discount_bps=500,
        on_sale=True,
        benefits=benefits(pool_id),
    )
    made = await admin.CreatePlan(
        admin_pb.CreatePlanRequest(request_id=uid(), plan=plan), metadata=operator
    )
    return made.plan


async def subscribe(subscription, checkout, member: str) -> str:
    """The member's subscription, bought at the storefront's cashier; its id."""
    made = await subscription.CreateSubscriptionOrder(
        pb.CreateSubscriptionOrderRequest(
            request_id=uid(),
            member_id=member,
            plan_id=PLAN,
            collection=res.PAYMENT_COLLECTION_STOREFRONT,
        ),
        metadata=checkout,
    )
    paid = await subscription.ConfirmPayment(
        pb.ConfirmPaymentRequest(
            request_id=uid(),
            order_id=made.order.order_id,
            payment_id=f"pay-{uid()}",
            amount=cny(PRICE),
        ),
        metadata=checkout,
    )
    assert paid.subscription.state == res.SUBSCRIPTION_STATE_ACTIVE
    return paid.subscription.subscription_id


async def subscribe_all(subscription, checkout, members: list[str], at_once: int = 25) -> None:
    for i in range(0, len(members), at_once):
        await asyncio.gather(
            *(subscribe(subscription, checkout, m) for m in members[i : i + at_once])
        )


async def create_pool(admin, operator, **fields) -> res.PerkPool:
    values = {"display_name": "Video VIP 12 months", "partner": "tencent_video", **fields}
    made = await admin.CreatePerkPool(
        admin_pb.CreatePerkPoolRequest(request_id=uid(), **values), metadata=operator
    )
    return made.pool


async def upload(
    admin, operator, pool_id: str, codes: list[str], expire_time: dt.datetime | None = None
) -> admin_pb.UploadPerkCodesResponse:
    request = admin_pb.UploadPerkCodesRequest(request_id=uid(), perk_pool_id=pool_id, codes=codes)
    if expire_time is not None:
        request.expire_time.FromDatetime(expire_time)
    return await admin.UploadPerkCodes(request, metadata=operator)


async def inventory(admin, operator, pool_id: str) -> res.PerkPool:
    got = await admin.GetPerkInventory(
        admin_pb.GetPerkInventoryRequest(perk_pool_id=pool_id), metadata=operator
    )
    return got.pool


def claim(subscription, caller, member: str, benefit_id: str, request_id: str | None = None):
    return subscription.ClaimBenefit(
        pb.ClaimBenefitRequest(
            request_id=request_id or uid(), member_id=member, benefit_id=benefit_id
        ),
        metadata=caller,
    )


async def quotas(subscription, caller, member: str) -> dict[str, res.BenefitQuota]:
    got = await subscription.ListBenefitQuotas(
        pb.ListBenefitQuotasRequest(member_id=member), metadata=caller
    )
    return {q.benefit_id: q for q in got.quotas}


async def claims(subscription, caller, member: str, **filters) -> list[res.BenefitClaim]:
    got = await subscription.ListBenefitClaims(
        pb.ListBenefitClaimsRequest(member_id=member, **filters), metadata=caller
    )
    return list(got.claims)
