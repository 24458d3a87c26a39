"""Rule sets: everything a score, a tier, a badge, a gift and a benefit is decided by, as
versioned data (validation.py checks an upload).

A rule set is immutable once published: a settlement records the version it used and a new
version never rewrites a past settlement (the facts are kept, so any version can be re-run over
them: that is a rehearsal). Numbers here are data; the defaults are in defaults.py.

    component value = min(cap, raw × weight_bp ÷ 10,000)      (integer division)
    score           = Σ component values

A weight scales a component before its cap, so operators can tilt the mix without redrawing
curves; the cap bounds what any one component can contribute, whatever the weight.

Tiers are fixed names (the values are database strings and event values) with operator-set
bands: a band's `min_score` is where its tier starts and the next band's is where it ends, so
bands can neither overlap nor leave gaps; validation only checks they rise with the tiers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from .curves import Curve
from .facts import ActivityKind


class Tier(StrEnum):
    """In rising order; the values are the tier columns' and the events'."""

    REGISTERED = "registered"
    BRONZE = "bronze"
    SILVER = "silver"
    GOLD = "gold"
    DIAMOND = "diamond"

    @property
    def rank(self) -> int:
        return list(Tier).index(self)


class Component(StrEnum):
    ACCOUNT = "account"  # 账户
    CONSUMPTION = "consumption"  # 消费
    ACTIVITY = "activity"  # 活跃
    REPUTATION = "reputation"  # 信誉
    CREDIT = "credit"  # 小白信用


class UpgradePolicy(StrEnum):
    AT_SETTLEMENT = "at_settlement"
    IMMEDIATE = "immediate"  # a provisional score may raise the tier between settlements


class DowngradePolicy(StrEnum):
    AT_SETTLEMENT = "at_settlement"  # after `grace_months` settlements below the band
    NEVER = "never"  # 有升级规则但没有降级规则


class BenefitKind(StrEnum):
    PRICE = "price"  # coupons, member prices, birthday gift
    LOGISTICS = "logistics"  # free-shipping vouchers, free return pickup
    SERVICE = "service"  # priority line, flash refund, replace instead of repair


BASIS_POINTS = 10_000
MAX_WEIGHT_BP = 10 * BASIS_POINTS
MAX_CAP = 100_000  # one component's points
MAX_GRACE_MONTHS = 12
MAX_GIFT_POINTS = 10**7
MAX_COUPONS = 100
MAX_COUPON_VALUE_MINOR = 10**8
MAX_BADGE_LEVELS = 10
CODE = re.compile(r"[a-z][a-z0-9_]{1,63}")
CURRENCY = re.compile(r"[A-Z]{3}")


@dataclass(frozen=True)
class Limit:
    component: Component
    weight_bp: int
    cap: int


@dataclass(frozen=True)
class AccountRules:
    verified: int  # points for real-name verification
    linked: Curve  # of the number of linked accounts
    profile: Curve  # of the number of `profile_fields` filled
    profile_fields: tuple[str, ...]


@dataclass(frozen=True)
class ConsumptionRules:
    spend: Curve  # of the net spend in the window, in minor units
    orders: Curve  # of the orders counting (net spend > 0)
    breadth: Curve  # of the rule set's categories with net spend > 0
    platform: Curve  # of the net spend paid with the platform's own payment, minor units


@dataclass(frozen=True)
class ActivityRules:
    points: tuple[tuple[ActivityKind, int], ...]  # per activity; a kind left out scores 0
    monthly_cap: int  # per business month: the activity one month can add

    def points_for(self, kind: ActivityKind) -> int:
        return dict(self.points).get(kind, 0)


@dataclass(frozen=True)
class RiskRules:
    reputation: Curve  # of the latest assessment in the window (0-100)
    credit: Curve  # of the latest credit score in the window
    # reputation + credit component values (score points) below this lose high-cost benefits
    threshold: int


@dataclass(frozen=True)
class Band:
    tier: Tier
    min_score: int


@dataclass(frozen=True)
class TierPolicy:
    upgrade: UpgradePolicy = UpgradePolicy.AT_SETTLEMENT
    downgrade: DowngradePolicy = DowngradePolicy.AT_SETTLEMENT
    grace_months: int = 0  # settlements below the band a tier is kept for


@dataclass(frozen=True)
class BadgeLevel:
    """Earned when the category's net spend and its orders in the window both reach these."""

    level: int
    min_spend_minor: int
    min_orders: int


@dataclass(frozen=True)
class BadgeRule:
    category: str
    levels: tuple[BadgeLevel, ...]


@dataclass(frozen=True)
class Coupon:
    code: str
    quantity: int
    value_minor: int  # face value of one, for the gift cost


@dataclass(frozen=True)
class GiftPack:
    tier: Tier
    points: int
    coupons: tuple[Coupon, ...] = ()


@dataclass(frozen=True)
class Benefit:
    code: str
    kind: BenefitKind
    high_cost: bool = False  # removed by the risk gate
    monthly_quantity: int = 0  # vouchers a month; 0: a standing right, not counted


@dataclass(frozen=True)
class TierOffer:
    """`benefit` for members at `min_tier` or above (a higher tier's offer of the same code
    replaces it: 2 free-shipping vouchers from bronze, 5 from gold)."""

    min_tier: Tier
    benefit: Benefit


@dataclass(frozen=True)
class BadgeOffer:
    category: str
    min_level: int
    benefit: Benefit


@dataclass(frozen=True)
class RuleSet:
    version: int
    currency: str
    limits: tuple[Limit, ...]
    account: AccountRules
    consumption: ConsumptionRules
    activity: ActivityRules
    risk: RiskRules
    bands: tuple[Band, ...]
    policy: TierPolicy
    categories: tuple[str, ...]
    badges: tuple[BadgeRule, ...]
    gift_packs: tuple[GiftPack, ...]
    tier_offers: tuple[TierOffer, ...]
    badge_offers: tuple[BadgeOffer, ...]

    def limit(self, component: Component) -> Limit:
        return next(limit for limit in self.limits if limit.component is component)

    def band_min(self, tier: Tier) -> int:
        return next(band.min_score for band in self.bands if band.tier is tier)

    def pack(self, tier: Tier) -> GiftPack | None:
        return next((p for p in self.gift_packs if p.tier is tier), None)

    def badge_rule(self, category: str) -> BadgeRule | None:
        return next((b for b in self.badges if b.category == category), None)

    @property
    def max_score(self) -> int:
        return sum(limit.cap for limit in self.limits)


def capped(raw: int, limit: Limit) -> int:
    return min(limit.cap, raw * limit.weight_bp // BASIS_POINTS)
