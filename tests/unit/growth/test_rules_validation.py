"""Rule set validation: every refused field named by its path, all at once."""

from __future__ import annotations

import dataclasses

import pytest

from services.growth.domain.curves import curve
from services.growth.domain.defaults import DEFAULT_CATEGORIES, DEFAULT_RULES
from services.growth.domain.rules import (
    BadgeLevel,
    BadgeOffer,
    BadgeRule,
    Band,
    Benefit,
    BenefitKind,
    Component,
    Coupon,
    DowngradePolicy,
    GiftPack,
    Limit,
    Tier,
    TierOffer,
    TierPolicy,
)
from services.growth.domain.validation import rule_problems

R = DEFAULT_RULES


def problems(**change):
    return {(p.field, p.reason) for p in rule_problems(dataclasses.replace(R, **change))}


def with_band(i, min_score):
    bands = list(R.bands)
    bands[i] = Band(bands[i].tier, min_score)
    return tuple(bands)


def with_limit(component, **change):
    return tuple(
        dataclasses.replace(limit, **change) if limit.component is component else limit
        for limit in R.limits
    )


def test_the_defaults_are_valid_and_have_21_categories():
    assert rule_problems(R) == []
    assert len(DEFAULT_CATEGORIES) == len(set(DEFAULT_CATEGORIES)) == 21
    assert [(b.tier.value, b.min_score) for b in R.bands] == [
        ("registered", 0),
        ("bronze", 1000),
        ("silver", 2000),
        ("gold", 3500),
        ("diamond", 5000),
    ]
    assert (R.policy.upgrade.value, R.policy.downgrade.value, R.policy.grace_months) == (
        "at_settlement",
        "at_settlement",
        0,
    )


def test_overlapping_bands():
    assert problems(bands=with_band(3, 2000)) == {("bands[3].min_score", "OVERLAPPING_BANDS")}
    assert problems(bands=with_band(2, 900)) == {("bands[2].min_score", "OVERLAPPING_BANDS")}


def test_unsorted_or_missing_bands():
    swapped = (R.bands[0], R.bands[2], R.bands[1], *R.bands[3:])
    assert problems(bands=swapped) == {("bands", "UNSORTED_BANDS")}
    assert problems(bands=R.bands[:-1]) == {("bands", "UNSORTED_BANDS")}


def test_the_first_band_starts_at_zero_and_none_is_out_of_reach():
    assert problems(bands=with_band(0, 10)) == {("bands[0].min_score", "INVALID_ARGUMENT")}
    assert problems(bands=with_band(4, R.max_score + 1)) == {
        ("bands[4].min_score", "UNREACHABLE_BAND")
    }


def test_negative_weights_and_caps():
    assert problems(limits=with_limit(Component.ACTIVITY, weight_bp=-1)) == {
        ("limits[2].weight_bp", "NEGATIVE_WEIGHT")
    }
    assert problems(limits=with_limit(Component.CREDIT, cap=-5)) == {
        ("limits[4].cap", "NEGATIVE_CAP")
    }
    activity = dataclasses.replace(R.activity, monthly_cap=-1)
    assert problems(activity=activity) == {("activity.monthly_cap", "NEGATIVE_CAP")}


def test_every_component_has_one_limit():
    assert problems(limits=R.limits[:4]) == {("limits", "INVALID_ARGUMENT")}
    twice = (*R.limits, Limit(Component.ACCOUNT, 10_000, 1))
    assert problems(limits=twice) == {("limits[5].component", "DUPLICATE")}


def test_consumption_curves_must_diminish():
    spend = curve((0, 0), (100, 10), (200, 40))
    consumption = dataclasses.replace(R.consumption, spend=spend)
    assert problems(consumption=consumption) == {("consumption.spend.points", "NOT_DIMINISHING")}


def test_unknown_categories_in_badges_and_offers():
    badges = (*R.badges[:-1], BadgeRule("spaceships", R.badges[0].levels))
    assert ("badges[20].category", "UNKNOWN_CATEGORY") in problems(badges=badges)
    offers = (BadgeOffer("spaceships", 1, Benefit("x_coupon", BenefitKind.PRICE)),)
    assert problems(badge_offers=offers) == {("badge_offers[0].category", "UNKNOWN_CATEGORY")}
    assert problems(categories=(*R.categories, "Books")) == {("categories[21]", "INVALID_ARGUMENT")}
    assert problems(categories=(*R.categories, "books")) == {("categories[21]", "DUPLICATE")}


def test_badge_levels_rise():
    first = R.categories[0]
    falling = (BadgeLevel(1, 100, 2), BadgeLevel(2, 50, 5), BadgeLevel(3, 200, 5))
    assert problems(badges=(BadgeRule(first, falling), *R.badges[1:])) == {
        ("badges[0].levels[1]", "UNSORTED")
    }
    same = (BadgeLevel(1, 100, 2), BadgeLevel(2, 100, 2), BadgeLevel(3, 200, 5))
    assert problems(badges=(BadgeRule(first, same), *R.badges[1:])) == {
        ("badges[0].levels[1]", "UNSORTED")
    }
    skipped = (BadgeLevel(1, 100, 2), BadgeLevel(3, 200, 5), BadgeLevel(4, 300, 6))
    assert problems(badges=(BadgeRule(first, skipped), *R.badges[1:])) == {
        ("badges[0].levels[1].level", "INVALID_ARGUMENT"),
        ("badges[0].levels[2].level", "INVALID_ARGUMENT"),
    }


def test_offers_name_a_level_the_badge_has():
    offers = (BadgeOffer("books", 4, Benefit("books_gold", BenefitKind.PRICE)),)
    assert problems(badge_offers=offers) == {("badge_offers[0].min_level", "INVALID_ARGUMENT")}


def test_one_benefit_code_means_one_benefit():
    offers = (
        TierOffer(Tier.SILVER, Benefit("flash_refund", BenefitKind.SERVICE, high_cost=True)),
        TierOffer(Tier.GOLD, Benefit("flash_refund", BenefitKind.SERVICE, high_cost=False)),
    )
    assert problems(tier_offers=offers) == {("tier_offers[1].benefit", "CONFLICT")}
    twice = (offers[0], offers[0])
    assert problems(tier_offers=twice) == {("tier_offers[1]", "DUPLICATE")}


def test_gift_packs():
    packs = (
        GiftPack(Tier.REGISTERED, 10),
        GiftPack(Tier.GOLD, -1, (Coupon("c10", 0, 1_000),)),
        GiftPack(Tier.GOLD, 10),
    )
    assert problems(gift_packs=packs) == {
        ("gift_packs[0].tier", "INVALID_ARGUMENT"),
        ("gift_packs[1].points", "INVALID_ARGUMENT"),
        ("gift_packs[1].coupons[0].quantity", "INVALID_ARGUMENT"),
        ("gift_packs[2].tier", "DUPLICATE"),
    }


@pytest.mark.parametrize(
    ("policy", "field"),
    [
        (TierPolicy(grace_months=-1), "policy.grace_months"),
        (TierPolicy(grace_months=13), "policy.grace_months"),
        (TierPolicy(downgrade=DowngradePolicy.NEVER, grace_months=2), "policy.grace_months"),
    ],
)
def test_grace(policy, field):
    assert problems(policy=policy) == {(field, "INVALID_ARGUMENT")}


def test_every_problem_at_once():
    found = problems(
        version=0,
        currency="cny",
        bands=with_band(3, 1500),
        limits=tuple(
            dataclasses.replace(limit, weight_bp=-10, cap=-1) if i == 2 else limit
            for i, limit in enumerate(R.limits)
        ),
        risk=dataclasses.replace(R.risk, threshold=-1),
    )
    assert found == {
        ("version", "INVALID_ARGUMENT"),
        ("currency", "INVALID_ARGUMENT"),
        ("bands[3].min_score", "OVERLAPPING_BANDS"),
        ("limits[2].weight_bp", "NEGATIVE_WEIGHT"),
        ("limits[2].cap", "NEGATIVE_CAP"),
        ("risk.threshold", "INVALID_ARGUMENT"),
    }
