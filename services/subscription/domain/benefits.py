"""Benefits: quotas per period, the claim decision, inventory warnings, and what storefronts
read (member price, multiplier).

**Quota windows are calendar months (or years) of the business zone**, not periods counted from
each subscription's start. Chosen because:
- every member's "4 free-shipping coupons a month" resets on the same day, the 1st, which a
  storefront can say in one sentence and a member can predict;
- the window does not move when the subscription does (stacking, a plan change now, a renewal
  paid late in grace, a new subscription after a lapse), so none of those can refill a quota;
- the window is named by a key that needs nothing but the instant (`2025-06`, `2025`), which is
  the `period_key` of `subscription.benefit_claimed` and the key the store counts claims by.
The cost: a member who subscribes on the 31st can claim a month's quota on the 31st and another
on the 1st. The refund formula deducts every claim's value, so that costs them if they refund.

Quotas count per member (not per subscription), for the same reason: a subscription refunded
and bought again within a month must not bring a fresh quota.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from zoneinfo import ZoneInfo

from services.kit.refusals import Refusal

from .lifecycle import (
    NO_ACTIVE_SUBSCRIPTION,
    MemberAction,
    MemberStatus,
    Operation,
    member_refusal,
    refusal,
)
from .plans import Benefit, BenefitKind, Plan, QuotaWindow
from .subscriptions import Subscription

DEFAULT_LOW_INVENTORY = 20  # partner codes left at which operators are warned


def period_key(at: dt.datetime, window: QuotaWindow, zone: str) -> str:
    """The window `at` falls in: "2025-06" for a month, "2025" for a year."""
    local = at.astimezone(ZoneInfo(zone))
    if window is QuotaWindow.YEAR:
        return f"{local.year:04d}"
    return f"{local.year:04d}-{local.month:02d}"


def window_end(at: dt.datetime, window: QuotaWindow, zone: str) -> dt.datetime:
    """When the window `at` falls in ends (the quota's reset), as UTC."""
    tz = ZoneInfo(zone)
    local = at.astimezone(tz)
    if window is QuotaWindow.YEAR:
        first = dt.date(local.year + 1, 1, 1)
    else:
        first = dt.date(local.year + local.month // 12, local.month % 12 + 1, 1)
    return dt.datetime.combine(first, dt.time(), tz).astimezone(dt.UTC)


@dataclass(frozen=True)
class Quota:
    benefit_id: str
    kind: BenefitKind
    limit: int
    used: int
    period_key: str
    resets_at: dt.datetime

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)


def window_keys(plan: Plan, now: dt.datetime, zone: str) -> dict[str, str]:
    """Each benefit's current window key: the counters a claim or a quota view reads."""
    return {b.benefit_id: period_key(now, b.window, zone) for b in plan.benefits}


def quotas(plan: Plan, used: Mapping[str, int], now: dt.datetime, zone: str) -> list[Quota]:
    """What the member has left of each benefit in the current windows; `used` by benefit id
    counts the claims under `window_keys` (a benefit missing from it was not claimed)."""
    return [
        Quota(
            b.benefit_id,
            b.kind,
            b.quantity,
            used.get(b.benefit_id, 0),
            period_key(now, b.window, zone),
            window_end(now, b.window, zone),
        )
        for b in plan.benefits
    ]


@dataclass(frozen=True)
class Claim:
    """A granted claim: one of `benefit` in window `period_key`; `remaining` after it."""

    benefit: Benefit
    period_key: str
    remaining: int

    @property
    def takes_inventory(self) -> bool:
        return self.benefit.kind is BenefitKind.PARTNER_PERK


def _no_subscription(sub: Subscription | None) -> Refusal:
    metadata = {"state": sub.state.value} if sub else {}
    return Refusal(NO_ACTIVE_SUBSCRIPTION, "no subscription gives this member benefits", metadata)


def claim(
    sub: Subscription | None,
    member: MemberStatus,
    benefit_id: str,
    used: int,
    inventory_left: int | None,
    now: dt.datetime,
    zone: str,
) -> Claim | Refusal:
    """Whether the member may claim one `benefit_id` now. `used` counts their claims in the
    benefit's current window; `inventory_left` is the partner codes left (None for benefits
    without inventory). The store applies a granted claim with the same numbers under a lock
    or a conditional update, so the decision holds under concurrency."""
    problem = member_refusal(member, MemberAction.CLAIM)
    if problem:
        return problem
    if sub is None or refusal(sub.state, Operation.CLAIM) or not sub.entitled(now):
        return _no_subscription(sub)
    benefit = sub.plan_at(now).benefit(benefit_id)
    if benefit is None:
        return Refusal(
            "BENEFIT_NOT_IN_PLAN", "the plan has no such benefit", {"benefit_id": benefit_id}
        )
    key = period_key(now, benefit.window, zone)
    if used >= benefit.quantity:
        resets = window_end(now, benefit.window, zone)
        wait = max(1, int((resets - now).total_seconds()))
        return Refusal(
            "QUOTA_EXHAUSTED",
            f"{benefit.quantity} a {benefit.window.value}, all claimed",
            metadata={
                "benefit_id": benefit_id,
                "period_key": key,
                "limit": str(benefit.quantity),
                "retry_after_seconds": str(wait),
            },
            quota=True,
        )
    if benefit.kind is BenefitKind.PARTNER_PERK:
        if inventory_left is None:
            raise ValueError("a partner perk's claim needs its inventory")
        if inventory_left <= 0:
            return Refusal("PERK_OUT_OF_STOCK", "none left", {"benefit_id": benefit_id})
    return Claim(benefit, key, benefit.quantity - used - 1)


# --- inventory --------------------------------------------------------------------------------
class InventoryLevel(StrEnum):
    OK = "ok"
    LOW = "low"
    EMPTY = "empty"


def inventory_level(left: int, threshold: int = DEFAULT_LOW_INVENTORY) -> InventoryLevel:
    if left <= 0:
        return InventoryLevel.EMPTY
    return InventoryLevel.LOW if left <= threshold else InventoryLevel.OK


def inventory_warning(
    before: int, after: int, threshold: int = DEFAULT_LOW_INVENTORY
) -> InventoryLevel | None:
    """The level to warn operators of when a change takes the inventory from `before` to
    `after` codes: only when it drops into a worse level (once per crossing, not once per
    claim); an upload that lifts it resets the warning."""
    old, new = inventory_level(before, threshold), inventory_level(after, threshold)
    return new if _worse(new, old) else None


def level_warning(
    remembered: InventoryLevel, left: int, threshold: int = DEFAULT_LOW_INVENTORY
) -> InventoryLevel | None:
    """The level to warn operators of once a pool has `left` codes, `remembered` being its
    level after its previous change (the store keeps `inventory_level` after every change).
    The same rule as `inventory_warning`, for changes that are not one count to another, such
    as codes lapsing unclaimed or a threshold raised."""
    new = inventory_level(left, threshold)
    return new if _worse(new, remembered) else None


def _worse(a: InventoryLevel, b: InventoryLevel) -> bool:
    order = list(InventoryLevel)
    return order.index(a) > order.index(b)


# --- what storefronts read ---------------------------------------------------------------------
@dataclass(frozen=True)
class MemberTerms:
    points_multiplier: int  # 1: none
    member_discount_bp: int  # 0: list prices


def member_terms(
    sub: Subscription | None, now: dt.datetime, member: MemberStatus = MemberStatus.ACTIVE
) -> MemberTerms:
    """The multiplier and member price a member has now: their plan's while entitled (active
    or grace, before the end) and not frozen or closed (a frozen member takes nothing more:
    lifecycle.member_refusal), nothing otherwise."""
    if sub is None or not sub.entitled(now) or member is not MemberStatus.ACTIVE:
        return MemberTerms(1, 0)
    plan = sub.plan_at(now)
    return MemberTerms(plan.points_multiplier, plan.member_discount_bp)
