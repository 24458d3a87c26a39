"""The score on worked examples under the default rule set (the arithmetic is in the comments)."""

from __future__ import annotations

import dataclasses
import datetime as dt

from services.growth.domain.defaults import DEFAULT_RULES as R
from services.growth.domain.facts import ActivityKind, FactBook
from services.growth.domain.rules import Component, Limit
from services.growth.domain.score import Part, score
from tests.unit.growth.samples import (
    SETTLED,
    YUAN,
    ZONE,
    activity,
    at,
    credit,
    good_standing,
    linked,
    order,
    profile,
    refund,
    reputation,
    verified,
)


def scored(facts, rules=R, when=SETTLED):
    return score(FactBook.of(facts), rules, when, ZONE)


def component(facts, which, rules=R):
    return scored(facts, rules).component(which)


def with_limit(component_, weight_bp, cap):
    limits = tuple(
        Limit(component_, weight_bp, cap) if limit.component is component_ else limit
        for limit in R.limits
    )
    return dataclasses.replace(R, limits=limits)


def test_nothing_scores_nothing():
    s = scored([])
    assert s.total == 0
    assert [c.component for c in s.components] == list(Component)
    assert s.earliest_counted is None


def test_account():
    # verified 200 + one linked account 50 + 2 of 4 profile fields ⌊2 × 200 / 4⌋ = 100 → 350
    half = frozenset({"nickname", "region", "favourite_colour"})  # not a profile field: ignored
    facts = [verified(at(2020, 1, 1)), linked(at(2026, 1, 1)), profile(at(2026, 2, 1), half)]
    account = component(facts, Component.ACCOUNT)
    assert (account.raw, account.value, account.cap) == (350, 350, 500)
    assert account.parts == (
        Part("verified", 1, 200),
        Part("linked", 1, 50),
        Part("profile", 2, 100),
    )
    assert set(account.facts) == {f.key for f in facts}


def test_weights_scale_and_caps_bound_a_component():
    facts = [verified(at(2020, 1, 1)), linked(at(2026, 1, 1)), profile(at(2026, 2, 1))]
    assert component(facts, Component.ACCOUNT).value == 450  # 200 + 50 + 200
    # half weight: ⌊450 × 5000 / 10000⌋ = 225
    assert (
        component(facts, Component.ACCOUNT, with_limit(Component.ACCOUNT, 5_000, 500)).value == 225
    )
    # double weight, capped: min(400, 900) = 400
    doubled = component(facts, Component.ACCOUNT, with_limit(Component.ACCOUNT, 20_000, 400))
    assert (doubled.raw, doubled.value) == (450, 400)


def test_consumption():
    # 500 + 300 + 200 CNY in 3 orders, 3 categories: net 100,000 fen
    # spend ⌊100000 × 1000 / 200000⌋ = 500; orders ⌊3 × 300 / 12⌋ = 75; breadth 3 → 150; 725
    facts = [
        order(at(2026, 1, 5), ("books", 500 * YUAN)),
        order(at(2026, 3, 5), ("food", 300 * YUAN)),
        order(at(2026, 9, 5), ("apparel", 200 * YUAN)),
    ]
    c = component(facts, Component.CONSUMPTION)
    assert c.parts == (
        Part("spend", 100_000, 500),
        Part("orders", 3, 75),
        Part("breadth", 3, 150),
        Part("platform_payment", 0, 0),
    )
    assert (c.raw, c.value) == (725, 725)


def test_paying_with_the_platforms_own_means_adds_points():
    # 600 CNY paid, 500 of it with the platform's wallet; 200 CNY refunded: the wallet's share
    # of the 400 CNY net is ⌊50000 × 40000 / 60000⌋ = 33,333 fen → ⌊33333 × 100 / 100000⌋ = 33
    paid = dataclasses.replace(
        order(at(2026, 1, 5), ("books", 400 * YUAN), ("food", 200 * YUAN)),
        platform_paid_minor=500 * YUAN,
    )
    back = refund(paid, at(2026, 1, 9), ("l1", 200 * YUAN))
    c = component([paid, back], Component.CONSUMPTION)
    assert c.part("platform_payment") == Part("platform_payment", 33_333, 33)
    # 6,000 CNY through it: 100 + ⌊500000 × 100 / 400000⌋ = 200, the curve's end
    big = dataclasses.replace(
        order(at(2026, 2, 1), ("books", 6_000 * YUAN)), platform_paid_minor=6_000 * YUAN
    )
    assert component([big], Component.CONSUMPTION).part("platform_payment").points == 200


def test_a_refund_lowers_consumption():
    books = order(at(2026, 1, 5), ("books", 500 * YUAN))
    facts = [
        books,
        order(at(2026, 3, 5), ("food", 300 * YUAN)),
        order(at(2026, 9, 5), ("apparel", 200 * YUAN)),
    ]
    back = refund(books, at(2026, 1, 10), ("l0", 100 * YUAN))
    # net 90,000: spend 450; still 3 orders, 3 categories → 675
    c = component([*facts, back], Component.CONSUMPTION)
    assert (c.raw, back.key in c.facts) == (675, True)
    # the whole books order refunded: 50,000 net (250), 2 orders (50), 2 categories (100)
    gone = refund(books, at(2026, 1, 10), ("l0", 500 * YUAN))
    assert component([*facts, gone], Component.CONSUMPTION).raw == 400


def test_unknown_categories_add_spend_and_orders_but_no_breadth():
    c = component([order(at(2026, 1, 5), ("spaceships", 200_000))], Component.CONSUMPTION)
    assert c.parts[:3] == (
        Part("spend", 200_000, 1_000),
        Part("orders", 1, 25),
        Part("breadth", 0, 0),
    )
    assert scored([order(at(2026, 1, 5), ("spaceships", 200_000))]).categories == ()


def test_consumption_diminishes_and_is_capped():
    # 40,000 CNY = 4,000 points; 200,000 CNY = 5,000; and no more after
    assert R.consumption.spend(40_000 * YUAN) == 4_000
    assert R.consumption.spend(200_000 * YUAN) == R.consumption.spend(10**9) == 5_000
    heavy = [order(at(2026, 1, 5), ("books", 1_000 * YUAN)) for _ in range(4)]
    c = component(heavy, Component.CONSUMPTION, with_limit(Component.CONSUMPTION, 20_000, 1_500))
    # 400,000 fen: 1000 + ⌊200000 × 1500 / 800000⌋ = 1375; 4 orders 100; 1 category 50
    # → 1525, × 2 = 3050, capped at 1500
    assert (c.raw, c.value) == (1_525, 1_500)


def test_activity_is_capped_per_business_month():
    facts = [
        activity(at(2026, 6, 3), ActivityKind.PHOTO_REVIEW),  # June: 30
        activity(at(2026, 6, 9), ActivityKind.PHOTO_REVIEW),  # June: 60 → capped at 50
        activity(at(2026, 6, 30, 23), ActivityKind.REVIEW),  # still June locally: 70 → 50
        # 30 June 16:30 UTC is 1 July 00:30 in Shanghai: July's
        activity(dt.datetime(2026, 6, 30, 16, 30, tzinfo=dt.UTC), ActivityKind.REVIEW),
        activity(at(2026, 7, 20), ActivityKind.SHARE),  # July: 10 + 2 = 12
        activity(at(2026, 8, 1), ActivityKind.ANSWER),  # August: 5
    ]
    a = component(facts, Component.ACTIVITY)
    assert a.parts == (Part("2026-06", 70, 50), Part("2026-07", 12, 12), Part("2026-08", 5, 5))
    assert (a.raw, a.value) == (67, 67)
    assert len(a.facts) == 6


def test_activity_outside_the_window_drops_out():
    facts = [activity(at(2025, 10, 31)), activity(at(2025, 11, 1))]
    assert component(facts, Component.ACTIVITY).parts == (Part("2025-11", 10, 10),)


def test_reputation_and_credit():
    # reputation 90: 300 + ⌊10 × 300 / 20⌋ = 450; credit 120: 200 + ⌊20 × 200 / 50⌋ = 280
    s = scored(
        [
            reputation(at(2026, 5, 1), 70),
            reputation(at(2026, 8, 1), 90),
            credit(at(2026, 2, 1), 120),
        ]
    )
    assert s.component(Component.REPUTATION).parts == (Part("assessment", 90, 450),)
    assert s.component(Component.CREDIT).parts == (Part("assessment", 120, 280),)
    assert s.risk_standing == 730
    assert s.total == 730


def test_a_credit_score_below_the_floor_gives_nothing():
    assert component([credit(at(2026, 2, 1), 60)], Component.CREDIT).value == 0


def test_the_score_sums_the_components_and_records_what_it_used():
    facts = good_standing()
    s = scored(facts)
    assert [(c.component.value, c.value) for c in s.components] == [
        ("account", 400),
        ("consumption", 0),
        ("activity", 50),
        ("reputation", 450),
        ("credit", 0),
    ]
    assert (s.total, s.ruleset_version, s.at) == (900, 1, SETTLED)
    assert s.earliest_counted == at(2026, 6, 1)
    assert {k for c in s.components for k in c.facts} == {f.key for f in facts}


def test_the_default_examples():
    base = good_standing()
    cats = ["books", "food"]
    light = [order(at(2026, 2, 1 + i), (cats[i % 2], 1_000 * YUAN // 6)) for i in range(6)]
    # 6 × 16,666 = 99,996 fen: spend ⌊99996 × 1000 / 200000⌋ = 499 (the floor costs a point)
    # orders ⌊6 × 300 / 12⌋ = 150; breadth ⌊2 × 150 / 3⌋ = 100 → 749; 900 + 749 = 1,649
    assert scored(base + light).total == 1_649
    five = ["books", "food", "apparel", "phones", "toys"]
    gold = [order(at(2026, 1 + i % 9, 3), (five[i % 5], 400 * YUAN)) for i in range(20)]
    # 800,000 fen: 1000 + ⌊600000 × 1500 / 800000⌋ = 2125; 20 orders 300 + ⌊8 × 300 / 38⌋ = 363;
    # 5 categories 150 + ⌊2 × 150 / 5⌋ = 210 → 2,698; 900 + 2,698 = 3,598
    assert scored(base + gold).total == 3_598
