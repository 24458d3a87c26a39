"""PLUS monthly, the paid membership the storefront sells: 19 CNY a month, 10x points, 5% off."""

from __future__ import annotations

from loyalty.subscription.v1 import resources_pb2 as sres
from loyalty.type.v1 import money_pb2

PLUS_MONTHLY = "plus_monthly"


def plus_monthly(*benefits: sres.Benefit) -> sres.Plan:
    """The plan (a new message: the caller may change it), with `benefits`."""
    return sres.Plan(
        plan_id=PLUS_MONTHLY,
        display_name="PLUS monthly",
        kind=sres.PLAN_KIND_MONTHLY,
        price=money_pb2.Money(currency_code="CNY", amount_minor=19_00),
        points_multiplier=10,
        member_discount_bps=500,
        on_sale=True,
        benefits=benefits,
    )
