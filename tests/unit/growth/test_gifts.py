"""Upgrade gift packs: every tier reached, once per tier per 12 months, one reference each."""

from __future__ import annotations

import dataclasses

from services.growth.domain.defaults import DEFAULT_RULES as R
from services.growth.domain.gifts import (
    GiftCost,
    after_grants,
    gift_cost,
    gift_reference,
    may_grant,
    upgrade_gifts,
)
from services.growth.domain.rules import GiftPack, Tier
from services.growth.domain.tiers import ChangeReason, TierChange

UP_TO_GOLD = TierChange(Tier.REGISTERED, Tier.GOLD, ChangeReason.SETTLED_UP)
SILVER_TO_GOLD = TierChange(Tier.SILVER, Tier.GOLD, ChangeReason.SETTLED_UP)


def test_the_reference_is_the_member_the_tier_and_the_period():
    assert gift_reference("m-7", Tier.GOLD, "2026-10") == "growth:tier_upgrade:m-7:gold:2026-10"
    [grant] = upgrade_gifts("m-7", SILVER_TO_GOLD, "2026-10", {}, R)
    assert grant.reference == "growth:tier_upgrade:m-7:gold:2026-10"
    assert (grant.points, [c.code for c in grant.coupons]) == (1_000, ["upgrade_coupon_20"])


def test_every_tier_reached_is_paid():
    grants = upgrade_gifts("m", UP_TO_GOLD, "2026-10", {}, R)
    assert [(g.tier, g.points) for g in grants] == [
        (Tier.BRONZE, 200),
        (Tier.SILVER, 500),
        (Tier.GOLD, 1_000),
    ]


def test_a_retry_computes_the_same_grants():
    first = upgrade_gifts("m", UP_TO_GOLD, "2026-10", {}, R)
    assert upgrade_gifts("m", UP_TO_GOLD, "2026-10", {}, R) == first
    assert len({g.reference for g in first}) == 3


def test_once_per_tier_per_12_months():
    last = {Tier.GOLD: "2026-01"}
    assert upgrade_gifts("m", SILVER_TO_GOLD, "2026-12", last, R) == ()  # 11 months later
    [again] = upgrade_gifts("m", SILVER_TO_GOLD, "2027-01", last, R)  # 12 months later
    assert again.reference == "growth:tier_upgrade:m:gold:2027-01"
    assert may_grant(None, "2026-01")
    assert not may_grant("2026-01", "2026-01")


def test_a_climb_back_within_the_year_pays_only_the_tiers_not_paid():
    last = {Tier.BRONZE: "2026-03", Tier.SILVER: "2026-03"}
    grants = upgrade_gifts("m", UP_TO_GOLD, "2026-09", last, R)
    assert [g.tier for g in grants] == [Tier.GOLD]
    assert after_grants(last, grants) == {
        Tier.BRONZE: "2026-03",
        Tier.SILVER: "2026-03",
        Tier.GOLD: "2026-09",
    }


def test_no_pack_for_a_downgrade_or_no_change_or_an_empty_pack():
    down = TierChange(Tier.GOLD, Tier.SILVER, ChangeReason.SETTLED_DOWN)
    assert upgrade_gifts("m", down, "2026-10", {}, R) == ()
    assert upgrade_gifts("m", None, "2026-10", {}, R) == ()
    packs = (GiftPack(Tier.BRONZE, 0), GiftPack(Tier.GOLD, 5))
    rules = dataclasses.replace(R, gift_packs=packs)
    assert [g.tier for g in upgrade_gifts("m", UP_TO_GOLD, "2026-10", {}, rules)] == [Tier.GOLD]


def test_the_cost_of_grants():
    grants = upgrade_gifts("a", UP_TO_GOLD, "2026-10", {}, R)
    grants += upgrade_gifts("b", SILVER_TO_GOLD, "2026-10", {}, R)
    # points 200 + 500 + 1000 + 1000; coupons 1 × 5 CNY, 2 × 10 CNY, 3 × 20 CNY twice
    assert gift_cost(grants) == GiftCost(
        4,
        2_700,
        {"upgrade_coupon_10": 2, "upgrade_coupon_20": 6, "upgrade_coupon_5": 1},
        500 + 2_000 + 12_000,
    )
    assert gift_cost([]) == GiftCost()
