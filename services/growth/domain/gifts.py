"""Upgrade gift packs (升级礼包): what a tier change grants, at most once per tier per 12 months.

**Every tier reached is paid, not only the last**: a member who jumps from registered to gold
gets the bronze, silver and gold packs, the same as one who climbed a tier a month. Paying only
the top pack would make a fast climber worth less than a slow one.

**Once per tier per 12 months**: a pack for tier T granted for period P is not granted again for
T before period P + 12 months. A member who drops and climbs back within the year gets nothing
the second time, so a downgrade/upgrade cycle (a refund, then a new order) cannot farm packs.

**Exactly once**: each grant carries `growth:tier_upgrade:<member>:<tier>:<period>`, a reference
that depends only on the member, the tier and the period. A retry, a second replica or a re-run
of the settlement computes the same reference, and points credits a reference once (its inbox
and a unique reference under its `tier_upgrade` rule). The period is the settled one for a
settlement and the current month for an `immediate` upgrade; the same tier cannot be reached
twice in one period (it is held until a settlement), so references never collide.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from .periods import WINDOW_MONTHS, months_between
from .rules import Coupon, RuleSet, Tier
from .tiers import TierChange

REFERENCE_PREFIX = "growth:tier_upgrade"


def gift_reference(member_id: str, tier: Tier, period: str) -> str:
    return f"{REFERENCE_PREFIX}:{member_id}:{tier.value}:{period}"


@dataclass(frozen=True)
class GiftGrant:
    member_id: str
    tier: Tier
    period: str
    points: int
    coupons: tuple[Coupon, ...]

    @property
    def reference(self) -> str:
        return gift_reference(self.member_id, self.tier, self.period)


def may_grant(last_period: str | None, period: str) -> bool:
    """Whether a tier whose pack was last granted for `last_period` may have it again now."""
    return last_period is None or months_between(last_period, period) >= WINDOW_MONTHS


def upgrade_gifts(
    member_id: str,
    change: TierChange | None,
    period: str,
    last_granted: Mapping[Tier, str],
    rules: RuleSet,
) -> tuple[GiftGrant, ...]:
    """The packs `change` grants: one per tier reached above the old one, for tiers with a pack
    that was not granted in the 12 months before `period` (`last_granted`: the period each
    tier's pack was last granted for)."""
    if change is None or not change.up:
        return ()
    grants = []
    for tier in list(Tier)[change.before.rank + 1 : change.after.rank + 1]:
        pack = rules.pack(tier)
        if pack is None or (pack.points == 0 and not pack.coupons):
            continue
        if may_grant(last_granted.get(tier), period):
            grants.append(GiftGrant(member_id, tier, period, pack.points, pack.coupons))
    return tuple(grants)


def after_grants(last_granted: Mapping[Tier, str], grants: Iterable[GiftGrant]) -> dict[Tier, str]:
    """`last_granted` once `grants` are made."""
    updated = dict(last_granted)
    for grant in grants:
        updated[grant.tier] = grant.period
    return updated


@dataclass(frozen=True)
class GiftCost:
    """What a set of grants costs: points, coupons by code, and the coupons' face value."""

    grants: int = 0
    points: int = 0
    coupons: Mapping[str, int] = field(default_factory=dict)
    coupon_value_minor: int = 0


def gift_cost(grants: Iterable[GiftGrant]) -> GiftCost:
    count = points = value = 0
    coupons: Counter[str] = Counter()
    for grant in grants:
        count += 1
        points += grant.points
        for coupon in grant.coupons:
            coupons[coupon.code] += coupon.quantity
            value += coupon.quantity * coupon.value_minor
    return GiftCost(count, points, dict(sorted(coupons.items())), value)


def packs_cost(granted: Mapping[Tier, int], rules: RuleSet) -> GiftCost:
    """What `granted[tier]` packs of each tier of `rules` cost (the same figure `gift_cost`
    gives for that many grants: a rehearsal counts packs, it does not list them)."""
    count = points = value = 0
    coupons: Counter[str] = Counter()
    for tier, n in granted.items():
        pack = rules.pack(tier)
        if pack is None or n <= 0:
            continue
        count += n
        points += n * pack.points
        for coupon in pack.coupons:
            coupons[coupon.code] += n * coupon.quantity
            value += n * coupon.quantity * coupon.value_minor
    return GiftCost(count, points, dict(sorted(coupons.items())), value)
