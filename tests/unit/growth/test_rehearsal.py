"""Rehearsal: a candidate rule set against the current one over the same facts and states."""

from __future__ import annotations

import dataclasses

import pytest

from services.growth.domain.defaults import DEFAULT_RULES as R
from services.growth.domain.gifts import GiftCost
from services.growth.domain.rehearsal import compare
from services.growth.domain.rules import Band, Tier
from services.growth.domain.settlement import MemberState, settle_member
from tests.unit.growth.samples import SETTLED, YUAN, ZONE, at, good_standing, order

FIVE = ["books", "food", "apparel", "phones", "toys"]


def members():
    """a: 900 (registered), b: 1,649 (bronze), c: 3,598 (gold) under the defaults."""
    light = [order(at(2026, 2, 1 + i), (FIVE[i % 2], 1_000 * YUAN // 6)) for i in range(6)]
    heavy = [order(at(2026, 1 + i % 9, 3), (FIVE[i % 5], 400 * YUAN)) for i in range(20)]
    return {"a": good_standing(), "b": good_standing() + light, "c": good_standing() + heavy}


def settle_all(rules):
    return [
        settle_member(m, facts, rules, MemberState(), SETTLED, ZONE)
        for m, facts in members().items()
    ]


CANDIDATE = dataclasses.replace(
    R,
    version=2,
    bands=(
        Band(Tier.REGISTERED, 0),
        Band(Tier.BRONZE, 800),
        Band(Tier.SILVER, 1_500),
        Band(Tier.GOLD, 3_700),
        Band(Tier.DIAMOND, 5_000),
    ),
)


def test_moves_per_tier_and_the_gift_cost():
    baseline = settle_all(R)
    assert [o.tier for o in baseline] == [Tier.REGISTERED, Tier.BRONZE, Tier.GOLD]
    r = compare(baseline, settle_all(CANDIDATE))
    assert r.members == 3
    # a: registered → bronze, b: bronze → silver (up); c: gold → silver (down)
    assert {t: n for t, n in r.up.items() if n} == {Tier.BRONZE: 1, Tier.SILVER: 1}
    assert {t: n for t, n in r.down.items() if n} == {Tier.SILVER: 1}
    assert (r.moved_up, r.moved_down) == (2, 1)
    assert r.moves == {
        (Tier.REGISTERED, Tier.BRONZE): 1,
        (Tier.BRONZE, Tier.SILVER): 1,
        (Tier.GOLD, Tier.SILVER): 1,
    }
    assert r.candidate_tiers[Tier.SILVER] == 2 and r.baseline_tiers[Tier.GOLD] == 1
    # baseline: b bronze (200), c bronze + silver + gold (1,700)
    assert r.baseline_gifts == GiftCost(
        4,
        1_900,
        {"upgrade_coupon_10": 2, "upgrade_coupon_20": 3, "upgrade_coupon_5": 2},
        2 * 500 + 2 * 1_000 + 3 * 2_000,
    )
    # candidate: a bronze (200), b and c bronze + silver (700 each)
    assert r.candidate_gifts == GiftCost(
        5, 1_600, {"upgrade_coupon_10": 4, "upgrade_coupon_5": 3}, 3 * 500 + 4 * 1_000
    )


def test_the_same_rules_move_nobody():
    r = compare(settle_all(R), settle_all(R))
    assert (r.moved_up, r.moved_down, r.moves) == (0, 0, {})
    assert r.baseline_gifts == r.candidate_gifts


def test_both_sides_settle_the_same_members():
    with pytest.raises(ValueError):
        compare(settle_all(R), settle_all(R)[:2])
