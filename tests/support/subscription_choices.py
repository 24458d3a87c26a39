"""Helpers for the tests of the member's choices, refunds and operators' calls: plans, buying a
period (a storefront's cashier paid at once), trials, claims, refunds and the details of a
refused call (ErrorInfo metadata)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from loyalty.subscription.v1 import resources_pb2 as res
from loyalty.subscription.v1 import subscription_admin_service_pb2 as admin_pb
from loyalty.subscription.v1 import subscription_service_pb2 as pb
from loyalty.type.v1 import money_pb2
from tests.support.ids import uid

YEARLY = "plus_yearly"
TRIAL = "plus_trial"
PRICE = 148_00
# The worked example of RefundSubscription's comment: a yearly plan at 148.00 CNY from
# 2025-01-10 00:00 (365 days), coupons worth 6.00 and a video VIP year worth 15.00.
START = dt.datetime(2025, 1, 10, tzinfo=dt.UTC)

CLOSED = "loyalty.identity.member.closed.v1"
FROZEN = "loyalty.identity.member.frozen.v1"
ACTIVATED = "loyalty.subscription.subscription.activated.v1"
RENEWED = "loyalty.subscription.subscription.renewed.v1"
CANCELLED = "loyalty.subscription.subscription.cancelled.v1"
RESUMED = "loyalty.subscription.subscription.resumed.v1"
REFUNDED = "loyalty.subscription.subscription.refunded.v1"
EXPIRED = "loyalty.subscription.subscription.expired.v1"
CHARGE_CANCELLED = "loyalty.subscription.charge.cancelled.v1"


def cny(amount: int) -> money_pb2.Money:
    return money_pb2.Money(currency_code="CNY", amount_minor=amount)


def yearly(plan_id: str = YEARLY, price: int = PRICE, **fields: Any) -> res.Plan:
    values: dict[str, Any] = dict(
        plan_id=plan_id,
        display_name="PLUS yearly",
        kind=res.PLAN_KIND_YEARLY,
        price=cny(price),
        on_sale=True,
        benefits=[
            res.Benefit(
                benefit_id="free_shipping",
                kind=res.BENEFIT_KIND_COUPON_PACK,
                display_name="Free shipping",
                quantity=4,
                value=cny(6_00),
                coupon_template_id="tpl-shipping",
            ),
            res.Benefit(
                benefit_id="video_vip",
                kind=res.BENEFIT_KIND_SERVICE_PERK,
                display_name="Video VIP, a year",
                quantity=1,
                quota_period=res.QUOTA_PERIOD_YEAR,
                value=cny(15_00),
                service_code="video-vip-year",
            ),
        ],
    )
    values.update(fields)
    return res.Plan(**values)


def trial(plan_id: str = TRIAL, days: int = 7, **fields: Any) -> res.Plan:
    values: dict[str, Any] = dict(
        plan_id=plan_id,
        display_name="PLUS trial",
        kind=res.PLAN_KIND_TRIAL,
        price=cny(0),
        trial_days=days,
        on_sale=True,
    )
    values.update(fields)
    return res.Plan(**values)


async def plans(admin, operator, *made: res.Plan) -> None:
    """Create the plans (default: the yearly one and the trial)."""
    for plan in made or (yearly(), trial()):
        await admin.CreatePlan(
            admin_pb.CreatePlanRequest(request_id=uid(), plan=plan), metadata=operator
        )


async def buy(
    subscription, checkout, member: str, payment_id: str, plan_id: str = YEARLY
) -> pb.ConfirmPaymentResponse:
    """Order a period at a storefront's cashier and confirm its payment at once."""
    made = await subscription.CreateSubscriptionOrder(
        pb.CreateSubscriptionOrderRequest(
            request_id=uid(),
            member_id=member,
            plan_id=plan_id,
            collection=res.PAYMENT_COLLECTION_STOREFRONT,
        ),
        metadata=checkout,
    )
    return await subscription.ConfirmPayment(
        pb.ConfirmPaymentRequest(
            request_id=uid(),
            order_id=made.order.order_id,
            payment_id=payment_id,
            amount=made.order.amount,
        ),
        metadata=checkout,
    )


async def start_trial(subscription, caller, member: str, plan_id: str = TRIAL):
    return await subscription.StartTrial(
        pb.StartTrialRequest(request_id=uid(), member_id=member, plan_id=plan_id),
        metadata=caller,
    )


async def cancel(subscription, caller, subscription_id: str, reason: str = ""):
    return await subscription.CancelSubscription(
        pb.CancelSubscriptionRequest(
            request_id=uid(), subscription_id=subscription_id, reason=reason
        ),
        metadata=caller,
    )


async def resume(subscription, caller, subscription_id: str):
    return await subscription.ResumeSubscription(
        pb.ResumeSubscriptionRequest(request_id=uid(), subscription_id=subscription_id),
        metadata=caller,
    )


async def claim(subscription, caller, member: str, benefit_id: str):
    return await subscription.ClaimBenefit(
        pb.ClaimBenefitRequest(request_id=uid(), member_id=member, benefit_id=benefit_id),
        metadata=caller,
    )


async def quote(admin, operator, subscription_id: str) -> res.Refund:
    got = await admin.GetRefundQuote(
        admin_pb.GetRefundQuoteRequest(subscription_id=subscription_id), metadata=operator
    )
    return got.quote


async def refund(
    admin, operator, subscription_id: str, reason: str = "customer service", request_id=None
) -> admin_pb.RefundSubscriptionResponse:
    return await admin.RefundSubscription(
        admin_pb.RefundSubscriptionRequest(
            request_id=request_id or uid(), subscription_id=subscription_id, reason=reason
        ),
        metadata=operator,
    )


async def get(subscription, caller, subscription_id: str) -> res.Subscription:
    got = await subscription.GetSubscription(
        pb.GetSubscriptionRequest(subscription_id=subscription_id), metadata=caller
    )
    return got.subscription


async def error_metadata(call) -> tuple[grpc.StatusCode, str, dict[str, str]]:
    """Await a call that must fail: its code, ErrorInfo reason and metadata."""
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call
    status = rpc_status.from_call(err.value)
    for detail in status.details if status else []:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return err.value.code(), info.reason, dict(info.metadata)
    return err.value.code(), "", {}
