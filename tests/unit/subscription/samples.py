"""Plans and instants the subscription unit tests share (a module, not a conftest: tests never
import from a conftest)."""

from __future__ import annotations

import datetime as dt

from services.subscription.domain.plans import (
    Benefit,
    BenefitKind,
    Period,
    PeriodUnit,
    Plan,
    PlanKind,
    QuotaWindow,
)

ZONE = "Asia/Shanghai"
SH = dt.timezone(dt.timedelta(hours=8))  # Asia/Shanghai has no daylight saving


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    """An instant given in Shanghai wall time, as UTC."""
    return dt.datetime(year, month, day, hour, minute, tzinfo=SH).astimezone(dt.UTC)


def days(n: float) -> dt.timedelta:
    return dt.timedelta(days=n)


FREE_SHIPPING = Benefit("free_shipping", BenefitKind.COUPON_PACK, 4, 500)
VIDEO_VIP = Benefit("video_vip", BenefitKind.PARTNER_PERK, 1, 3_000, QuotaWindow.YEAR)
RETURN_PICKUP = Benefit("return_pickup", BenefitKind.SERVICE_PERK, 2, 0)

MONTHLY = Plan(
    "plus_monthly",
    1,
    PlanKind.MONTHLY,
    1_500,
    "CNY",
    Period(1, PeriodUnit.MONTH),
    member_discount_bp=500,
    benefits=(FREE_SHIPPING, RETURN_PICKUP),
)
MONTHLY_V2 = Plan(
    "plus_monthly",
    2,
    PlanKind.MONTHLY,
    1_800,
    "CNY",
    Period(1, PeriodUnit.MONTH),
    member_discount_bp=500,
    benefits=(FREE_SHIPPING, RETURN_PICKUP),
)
QUARTERLY = Plan(
    "plus_quarterly",
    1,
    PlanKind.QUARTERLY,
    4_000,
    "CNY",
    Period(3, PeriodUnit.MONTH),
    benefits=(FREE_SHIPPING,),
)
YEARLY = Plan(
    "plus_yearly",
    1,
    PlanKind.YEARLY,
    19_800,
    "CNY",
    Period(12, PeriodUnit.MONTH),
    member_discount_bp=500,
    benefits=(FREE_SHIPPING, VIDEO_VIP, RETURN_PICKUP),
)
TRIAL = Plan(
    "plus_trial",
    1,
    PlanKind.TRIAL,
    0,
    "CNY",
    Period(7, PeriodUnit.DAY),
    benefits=(Benefit("free_shipping", BenefitKind.COUPON_PACK, 1, 500),),
)
MONTHLY_USD = Plan("plus_monthly_usd", 1, PlanKind.MONTHLY, 299, "USD", Period(1, PeriodUnit.MONTH))
