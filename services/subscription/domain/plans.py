"""Plans (PLUS monthly, quarterly, yearly and a free trial): price, period, benefits; versions;
and the period arithmetic every subscription term is built with.

A plan is identified by a stable `code` ("plus_monthly") and a `version`. A new price or a new
benefit is a new version; a subscriber keeps the version they bought (their renewals charge its
price and grant its benefits) until they change plan. Only the newest version is sold.

Periods are calendar periods in the business zone, not fixed durations: "a month" from 14:30 on
15 June ends at 14:30 on 15 July (local wall time), whatever the month's length. A start on a day
the target month lacks ends on that month's last day (31 Jan + 1 month = 28 or 29 Feb), and the
cycle keeps its *anchor day*: the next month from 28 Feb of a cycle anchored on the 31st ends on
31 Mar, not 28 Mar, so a subscription never drifts to earlier days month after month.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass, field
from enum import StrEnum
from zoneinfo import ZoneInfo

from services.kit.refusals import FieldProblem

DEFAULT_ZONE = "Asia/Shanghai"


class PlanKind(StrEnum):
    """The values are the plans.kind column's."""

    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    YEARLY = "yearly"
    TRIAL = "trial"  # free, once per member, never renews


class PeriodUnit(StrEnum):
    MONTH = "month"
    DAY = "day"


class BenefitKind(StrEnum):
    COUPON_PACK = "coupon_pack"  # a claim makes the storefront issue one coupon
    PARTNER_PERK = "partner_perk"  # a claim hands out one partner code from a finite inventory
    SERVICE_PERK = "service_perk"  # a claim books one service (free return pickup, …)


class QuotaWindow(StrEnum):
    """The window a benefit's quota counts in: a calendar month or year of the business zone
    (benefits.py says why calendar windows)."""

    MONTH = "month"
    YEAR = "year"


# Paid kinds and their length in months: a "quarterly" plan of 4 months would be a label lying
# about what is sold.
KIND_MONTHS = {PlanKind.MONTHLY: 1, PlanKind.QUARTERLY: 3, PlanKind.YEARLY: 12}
MAX_TRIAL_DAYS = 31
MAX_PRICE_MINOR = 10**8  # 1,000,000.00 CNY: a typo guard far above any membership fee
MAX_MULTIPLIER = 100  # points refuses more (services/points/domain/subscription.py)
BASIS_POINTS = 10_000  # 100 %
MAX_BENEFITS = 32
MAX_QUANTITY = 1_000  # claims of one benefit per window
MAX_BENEFIT_VALUE_MINOR = 10**8
DEFAULT_MULTIPLIER = 10
_CODE = re.compile(r"[a-z][a-z0-9_]{1,63}")
_CURRENCY = re.compile(r"[A-Z]{3}")


@dataclass(frozen=True)
class Period:
    count: int
    unit: PeriodUnit


@dataclass(frozen=True)
class Benefit:
    """A claimable benefit: `quantity` claims per `window`, each worth `value_minor` (what a
    refund deducts once it was used: the coupon's face value, the partner perk's price)."""

    benefit_id: str
    kind: BenefitKind
    quantity: int
    value_minor: int
    window: QuotaWindow = QuotaWindow.MONTH


@dataclass(frozen=True)
class Plan:
    code: str
    version: int
    kind: PlanKind
    price_minor: int
    currency: str
    period: Period
    points_multiplier: int = DEFAULT_MULTIPLIER
    # The member price storefronts read: 500 = 5 % off list prices (member_price() rounds).
    member_discount_bp: int = 0
    benefits: tuple[Benefit, ...] = field(default_factory=tuple)

    @property
    def is_trial(self) -> bool:
        return self.kind is PlanKind.TRIAL

    def benefit(self, benefit_id: str) -> Benefit | None:
        return next((b for b in self.benefits if b.benefit_id == benefit_id), None)

    def same_version(self, other: Plan) -> bool:
        return (self.code, self.version) == (other.code, other.version)


def _period_problems(plan: Plan) -> list[FieldProblem]:
    period = plan.period
    if plan.is_trial:
        if period.unit is not PeriodUnit.DAY or not 1 <= period.count <= MAX_TRIAL_DAYS:
            return [FieldProblem("period", f"a trial lasts 1 to {MAX_TRIAL_DAYS} days")]
        return []
    months = KIND_MONTHS[plan.kind]
    if period != Period(months, PeriodUnit.MONTH):
        return [FieldProblem("period", f"a {plan.kind.value} plan lasts {months} month(s)")]
    return []


def _price_problems(plan: Plan) -> list[FieldProblem]:
    if plan.is_trial:
        if plan.price_minor != 0:
            return [FieldProblem("price_minor", "a trial is free", "TRIAL_NOT_FREE")]
        return []
    if not 1 <= plan.price_minor <= MAX_PRICE_MINOR:
        return [FieldProblem("price_minor", f"must be 1 to {MAX_PRICE_MINOR} minor units")]
    return []


def _benefit_problems(benefits: tuple[Benefit, ...]) -> list[FieldProblem]:
    if len(benefits) > MAX_BENEFITS:
        return [FieldProblem("benefits", f"at most {MAX_BENEFITS}")]
    problems = []
    seen: set[str] = set()
    for i, b in enumerate(benefits):
        at = f"benefits[{i}]"
        if not _CODE.fullmatch(b.benefit_id):
            problems.append(FieldProblem(f"{at}.benefit_id", "2-64 of a-z, 0-9, _; a letter first"))
        elif b.benefit_id in seen:
            problems.append(FieldProblem(f"{at}.benefit_id", "listed twice", "DUPLICATE_BENEFIT"))
        seen.add(b.benefit_id)
        if not 1 <= b.quantity <= MAX_QUANTITY:
            problems.append(FieldProblem(f"{at}.quantity", f"must be 1 to {MAX_QUANTITY}"))
        if not 0 <= b.value_minor <= MAX_BENEFIT_VALUE_MINOR:
            problems.append(
                FieldProblem(f"{at}.value_minor", f"must be 0 to {MAX_BENEFIT_VALUE_MINOR}")
            )
    return problems


def plan_problems(plan: Plan) -> list[FieldProblem]:
    """Every field of `plan` the rules refuse (empty when it can be sold)."""
    problems = []
    if not _CODE.fullmatch(plan.code):
        problems.append(FieldProblem("code", "2-64 of a-z, 0-9, _; a letter first"))
    if plan.version < 1:
        problems.append(FieldProblem("version", "versions count from 1"))
    problems += _period_problems(plan)
    problems += _price_problems(plan)
    if not _CURRENCY.fullmatch(plan.currency):
        problems.append(FieldProblem("currency", "an ISO 4217 code such as CNY"))
    if not 1 <= plan.points_multiplier <= MAX_MULTIPLIER:
        problems.append(FieldProblem("points_multiplier", f"must be 1 to {MAX_MULTIPLIER}"))
    # 100 % off would make every member price zero: a mistake, not a benefit.
    if not 0 <= plan.member_discount_bp < BASIS_POINTS:
        problems.append(FieldProblem("member_discount_bp", f"must be 0 to {BASIS_POINTS - 1}"))
    problems += _benefit_problems(plan.benefits)
    return problems


def version_problems(previous: Plan | None, new: Plan) -> list[FieldProblem]:
    """A new version follows the newest one by one (two operators publishing at once: one
    wins, the other is told) and sells the same thing: the kind and currency of a plan code
    never change, since subscribers of older versions change between versions by price."""
    expected = 1 if previous is None else previous.version + 1
    problems = []
    if new.version != expected:
        problems.append(
            FieldProblem("version", f"the next version is {expected}", "PLAN_VERSION_CONFLICT")
        )
    if previous is not None:
        if previous.code != new.code:
            raise ValueError("versions of one plan share its code")
        if previous.kind is not new.kind:
            problems.append(FieldProblem("kind", "a plan keeps its kind", "PLAN_KIND_CHANGED"))
        if previous.currency != new.currency:
            problems.append(
                FieldProblem("currency", "a plan keeps its currency", "PLAN_CURRENCY_CHANGED")
            )
    return problems


# --- period arithmetic -------------------------------------------------------------------
def _days_in(year: int, month: int) -> int:
    return calendar.monthrange(year, month)[1]


def _aware(instant: dt.datetime) -> None:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError("instants are timezone-aware")


def on_cycle(local_day: dt.date, anchor_day: int) -> bool:
    """Whether `local_day` is where a cycle anchored on `anchor_day` falls in its month (the
    anchor itself, or the month's last day when the month is shorter)."""
    return local_day.day == min(anchor_day, _days_in(local_day.year, local_day.month))


def add_period(
    start: dt.datetime, period: Period, zone: str, anchor_day: int | None = None
) -> dt.datetime:
    """`start` plus `period` in the business zone, at the same local wall time, as UTC.

    Months: the same day-of-month, clamped to the target month's end. `anchor_day` (1-31) is
    the day the cycle started on; it is used when `start` is on that cycle (see module doc), and
    ignored otherwise, so a month after an off-cycle start (after a trial's days, say) is
    counted from that start. Days: calendar days (a day across a daylight-saving change is
    still one day on the wall clock)."""
    _aware(start)
    if period.count < 1:
        raise ValueError("a period is at least one unit long")
    tz = ZoneInfo(zone)
    local = start.astimezone(tz)
    if period.unit is PeriodUnit.DAY:
        day = local.date() + dt.timedelta(days=period.count)
    else:
        anchor = anchor_day if anchor_day and on_cycle(local.date(), anchor_day) else local.day
        index = local.month - 1 + period.count
        year, month = local.year + index // 12, index % 12 + 1
        day = dt.date(year, month, min(anchor, _days_in(year, month)))
    return dt.datetime.combine(day, local.time(), tz).astimezone(dt.UTC)


def anchor_after(
    start: dt.datetime, period: Period, zone: str, anchor_day: int | None
) -> int | None:
    """The anchor day a cycle has once a period starting at `start` is added: a month-based
    period keeps the anchor it was counted from; a day-based one (a trial) has none."""
    if period.unit is PeriodUnit.DAY:
        return None
    local = start.astimezone(ZoneInfo(zone)).date()
    return anchor_day if anchor_day and on_cycle(local, anchor_day) else local.day


def member_price(list_price_minor: int, discount_bp: int) -> int:
    """A list price less the member discount; the discount is rounded down to the fen, so a
    member price is never below what the exact rate gives (storefronts show the same figure
    the checkout charges)."""
    if list_price_minor < 0 or not 0 <= discount_bp < BASIS_POINTS:
        raise ValueError("a price is not negative and a discount is below 100 %")
    return list_price_minor - list_price_minor * discount_bp // BASIS_POINTS
