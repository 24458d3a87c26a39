"""Tiers: bands, and the upgrade and downgrade policies with grace and `never`."""

from __future__ import annotations

import dataclasses

import pytest

from services.growth.domain.defaults import DEFAULT_RULES as R
from services.growth.domain.rules import DowngradePolicy, Tier, TierPolicy, UpgradePolicy
from services.growth.domain.tiers import (
    ChangeReason,
    TierChange,
    TierState,
    next_tier,
    provisional_tier,
    settle_tier,
    tier_for,
)

GOLD = TierState(Tier.GOLD)
SILVER_SCORE, BRONZE_SCORE, GOLD_SCORE = 2_500, 1_200, 3_600


def rules(**policy):
    return dataclasses.replace(R, policy=TierPolicy(**policy))


@pytest.mark.parametrize(
    ("score", "tier"),
    [
        (0, Tier.REGISTERED),
        (999, Tier.REGISTERED),
        (1_000, Tier.BRONZE),
        (1_999, Tier.BRONZE),
        (2_000, Tier.SILVER),
        (3_499, Tier.SILVER),
        (3_500, Tier.GOLD),
        (4_999, Tier.GOLD),
        (5_000, Tier.DIAMOND),
        (8_100, Tier.DIAMOND),
    ],
)
def test_bands(score, tier):
    assert tier_for(score, R.bands) is tier


def test_a_settlement_moves_up_as_far_as_the_score_goes():
    state, change = settle_tier(TierState(), GOLD_SCORE, R)
    assert state == GOLD
    assert change == TierChange(Tier.REGISTERED, Tier.GOLD, ChangeReason.SETTLED_UP)
    assert change.up


def test_the_same_band_changes_nothing():
    assert settle_tier(GOLD, GOLD_SCORE, R) == (GOLD, None)


def test_without_grace_a_lower_score_moves_down_at_the_settlement():
    state, change = settle_tier(GOLD, SILVER_SCORE, R)
    assert state == TierState(Tier.SILVER)
    assert change == TierChange(Tier.GOLD, Tier.SILVER, ChangeReason.SETTLED_DOWN)
    assert not change.up


def test_grace_keeps_the_tier_for_that_many_settlements_below_it():
    r = rules(grace_months=2)
    state, change = settle_tier(GOLD, SILVER_SCORE, r)
    assert (state, change) == (TierState(Tier.GOLD, 1), None)
    state, change = settle_tier(state, SILVER_SCORE, r)
    assert (state, change) == (TierState(Tier.GOLD, 2), None)
    # the third in a row: straight to what the score gives now, bronze
    state, change = settle_tier(state, BRONZE_SCORE, r)
    assert state == TierState(Tier.BRONZE)
    assert change == TierChange(Tier.GOLD, Tier.BRONZE, ChangeReason.SETTLED_DOWN)


def test_a_settlement_back_in_the_band_ends_the_grace():
    r = rules(grace_months=1)
    state, _ = settle_tier(GOLD, SILVER_SCORE, r)
    state, change = settle_tier(state, GOLD_SCORE, r)
    assert (state, change) == (GOLD, None)
    state, change = settle_tier(state, SILVER_SCORE, r)
    assert (state, change) == (TierState(Tier.GOLD, 1), None)  # a fresh grace


def test_an_upgrade_during_grace_ends_it():
    r = rules(grace_months=2)
    state, _ = settle_tier(GOLD, SILVER_SCORE, r)
    state, change = settle_tier(state, 5_000, r)
    assert state == TierState(Tier.DIAMOND)
    assert change == TierChange(Tier.GOLD, Tier.DIAMOND, ChangeReason.SETTLED_UP)


def test_never_means_never_down():
    r = rules(downgrade=DowngradePolicy.NEVER)
    for score in (SILVER_SCORE, BRONZE_SCORE, 0):
        assert settle_tier(GOLD, score, r) == (GOLD, None)
    assert settle_tier(GOLD, 5_000, r)[0] == TierState(Tier.DIAMOND)


def test_a_provisional_score_moves_nobody_under_at_settlement():
    assert provisional_tier(TierState(), GOLD_SCORE, R) == (TierState(), None)


def test_a_provisional_score_moves_up_under_immediate():
    r = rules(upgrade=UpgradePolicy.IMMEDIATE)
    state, change = provisional_tier(TierState(Tier.SILVER), GOLD_SCORE, r)
    assert state == GOLD
    assert change == TierChange(Tier.SILVER, Tier.GOLD, ChangeReason.PROVISIONAL_UP)


def test_a_provisional_score_never_moves_down():
    r = rules(upgrade=UpgradePolicy.IMMEDIATE, grace_months=1)
    in_grace = TierState(Tier.GOLD, 1)
    assert provisional_tier(in_grace, 0, r) == (in_grace, None)
    assert provisional_tier(in_grace, GOLD_SCORE, r) == (in_grace, None)  # grace is settled


def test_next_tier():
    assert next_tier(Tier.REGISTERED) is Tier.BRONZE
    assert next_tier(Tier.GOLD) is Tier.DIAMOND
    assert next_tier(Tier.DIAMOND) is None
