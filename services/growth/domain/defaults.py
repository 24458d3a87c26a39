"""The default rule set (version 1): what a new installation settles with until an operator
publishes another. Every number is a default, to be changed by a new version, never in code.

Scale: the caps add up to 8,100 and the bands are registered 0, bronze 1,000, silver 2,000,
gold 3,500, diamond 5,000. Consumption dominates (cap 6,000; everything else together 2,100, so
no tier above silver is reached without spending). Worked out in the unit tests: verified with a
full profile (400), reputation 90 (450) and a few reviews (50) make 900, registered; add 1,000
CNY in 6 orders over 2 categories (500 + 150 + 100) and it is 1,649, bronze; 8,000 CNY in 20
orders over 5 categories instead (2,125 + 363 + 210) makes 3,598, gold.

    account     = 200 if verified + linked(accounts) + profile(fields filled)      cap   500
    consumption = spend(net fen) + orders(count) + breadth(categories)
                  + platform(net fen paid with the platform's own payment)         cap 6,000
    activity    = Σ per month min(50, 10/review + 30/photo review + 5/answer + 2/share)  cap 600
    reputation  = reputation(latest assessment in the window, 0-100)              cap   600
    credit      = credit(latest credit score in the window)                       cap   400
    risk gate   : reputation + credit < 250 → no high-cost benefits

Curves, as (input, points):
    spend   (0, 0) (2,000 CNY, 1,000) (10,000 CNY, 2,500) (40,000 CNY, 4,000) (200,000 CNY, 5,000)
    orders  (0, 0) (12, 300) (50, 600) (200, 800)
    breadth (0, 0) (3, 150) (8, 300) (21, 400)
    platform (0, 0) (1,000 CNY, 100) (5,000 CNY, 200)
    linked  (0, 0) (1, 50) (2, 100)            profile (0, 0) (4, 200)
    reputation (0, 0) (50, 100) (80, 300) (100, 600)
    credit     (0, 0) (60, 0) (100, 200) (150, 400)
"""

from __future__ import annotations

from .curves import curve
from .facts import ActivityKind
from .rules import (
    AccountRules,
    ActivityRules,
    BadgeLevel,
    BadgeOffer,
    BadgeRule,
    Band,
    Benefit,
    BenefitKind,
    Component,
    ConsumptionRules,
    Coupon,
    GiftPack,
    Limit,
    RiskRules,
    RuleSet,
    Tier,
    TierOffer,
    TierPolicy,
)

YUAN = 100  # fen

# The storefronts' category codes (OrderLine.category).
DEFAULT_CATEGORIES = (
    "appliances",
    "phones",
    "computers",
    "digital",
    "home",
    "furniture",
    "kitchenware",
    "apparel",
    "shoes_bags",
    "jewelry",
    "beauty",
    "personal_care",
    "mother_baby",
    "toys",
    "sports_outdoor",
    "automotive",
    "books",
    "food",
    "fresh",
    "health",
    "pets",
)

DEFAULT_BANDS = (
    Band(Tier.REGISTERED, 0),
    Band(Tier.BRONZE, 1_000),
    Band(Tier.SILVER, 2_000),
    Band(Tier.GOLD, 3_500),
    Band(Tier.DIAMOND, 5_000),
)

# One ladder for every category: 300 CNY in 2 orders, 1,500 in 5, 6,000 in 12.
BADGE_LEVELS = (
    BadgeLevel(1, 300 * YUAN, 2),
    BadgeLevel(2, 1_500 * YUAN, 5),
    BadgeLevel(3, 6_000 * YUAN, 12),
)


def _tier_offers() -> tuple[TierOffer, ...]:
    price, logistics, service = BenefitKind.PRICE, BenefitKind.LOGISTICS, BenefitKind.SERVICE
    offers = [
        TierOffer(Tier.BRONZE, Benefit("member_price", price)),
        TierOffer(Tier.SILVER, Benefit("birthday_gift", price)),
        TierOffer(Tier.GOLD, Benefit("free_return_pickup", logistics, high_cost=True)),
        TierOffer(Tier.SILVER, Benefit("priority_line", service)),
        TierOffer(Tier.GOLD, Benefit("flash_refund", service, high_cost=True)),
        TierOffer(Tier.DIAMOND, Benefit("replace_not_repair", service, high_cost=True)),
    ]
    for tier, n in ((Tier.SILVER, 2), (Tier.GOLD, 4), (Tier.DIAMOND, 6)):
        offers.append(TierOffer(tier, Benefit("monthly_coupons", price, monthly_quantity=n)))
    for tier, n in ((Tier.BRONZE, 1), (Tier.SILVER, 3), (Tier.GOLD, 5), (Tier.DIAMOND, 8)):
        offers.append(TierOffer(tier, Benefit("free_shipping", logistics, monthly_quantity=n)))
    return tuple(offers)


def _badge_offers() -> tuple[BadgeOffer, ...]:
    offers = []
    for category in DEFAULT_CATEGORIES:
        coupon = f"{category}_coupon"
        offers.append(BadgeOffer(category, 1, Benefit(coupon, BenefitKind.PRICE, False, 1)))
        offers.append(BadgeOffer(category, 2, Benefit(coupon, BenefitKind.PRICE, False, 2)))
        offers.append(
            BadgeOffer(category, 3, Benefit(f"{category}_expert_line", BenefitKind.SERVICE))
        )
    return tuple(offers)


DEFAULT_RULES = RuleSet(
    version=1,
    currency="CNY",
    limits=(
        Limit(Component.ACCOUNT, 10_000, 500),
        Limit(Component.CONSUMPTION, 10_000, 6_000),
        Limit(Component.ACTIVITY, 10_000, 600),
        Limit(Component.REPUTATION, 10_000, 600),
        Limit(Component.CREDIT, 10_000, 400),
    ),
    account=AccountRules(
        verified=200,
        linked=curve((0, 0), (1, 50), (2, 100)),
        profile=curve((0, 0), (4, 200)),
        profile_fields=("nickname", "gender", "birthday", "region"),
    ),
    consumption=ConsumptionRules(
        spend=curve(
            (0, 0),
            (2_000 * YUAN, 1_000),
            (10_000 * YUAN, 2_500),
            (40_000 * YUAN, 4_000),
            (200_000 * YUAN, 5_000),
        ),
        orders=curve((0, 0), (12, 300), (50, 600), (200, 800)),
        breadth=curve((0, 0), (3, 150), (8, 300), (21, 400)),
        platform=curve((0, 0), (1_000 * YUAN, 100), (5_000 * YUAN, 200)),
    ),
    activity=ActivityRules(
        points=(
            (ActivityKind.REVIEW, 10),
            (ActivityKind.PHOTO_REVIEW, 30),
            (ActivityKind.ANSWER, 5),
            (ActivityKind.SHARE, 2),
        ),
        monthly_cap=50,
    ),
    risk=RiskRules(
        reputation=curve((0, 0), (50, 100), (80, 300), (100, 600)),
        credit=curve((0, 0), (60, 0), (100, 200), (150, 400)),
        threshold=250,
    ),
    bands=DEFAULT_BANDS,
    policy=TierPolicy(),
    categories=DEFAULT_CATEGORIES,
    badges=tuple(BadgeRule(c, BADGE_LEVELS) for c in DEFAULT_CATEGORIES),
    gift_packs=(
        GiftPack(Tier.BRONZE, 200, (Coupon("upgrade_coupon_5", 1, 5 * YUAN),)),
        GiftPack(Tier.SILVER, 500, (Coupon("upgrade_coupon_10", 2, 10 * YUAN),)),
        GiftPack(Tier.GOLD, 1_000, (Coupon("upgrade_coupon_20", 3, 20 * YUAN),)),
        GiftPack(Tier.DIAMOND, 2_000, (Coupon("upgrade_coupon_50", 3, 50 * YUAN),)),
    ),
    tier_offers=_tier_offers(),
    badge_offers=_badge_offers(),
)
