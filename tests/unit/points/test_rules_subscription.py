"""Earning rules (caps, streaks, rebates, grant amounts, validation) and the multiplier."""

from __future__ import annotations

import datetime as dt

import pytest

from services.points.domain import rules
from services.points.domain import subscription as sub
from services.points.domain.rules import EarningRule, StreakBonus

TODAY = dt.date(2025, 6, 10)


def rule(**kw) -> EarningRule:
    return EarningRule(rule_code=kw.pop("rule_code", "task"), kind=kw.pop("kind", "task"), **kw)


def test_cap_room_picks_the_tighter_cap():
    r = rule(daily_cap=100, period_cap=150, period_days=7)
    assert rules.cap_room(r, 20, 100) == (50, rules.PERIOD_CAP)
    assert rules.cap_room(r, 90, 100) == (10, rules.DAILY_CAP)
    assert rules.cap_room(rule(), 1000, 1000) == (None, "")
    assert rules.cap_room(r, 200, 0) == (0, rules.DAILY_CAP)


def test_period_start_covers_period_days_including_today():
    assert rules.period_start(rule(period_days=7), TODAY) == dt.date(2025, 6, 4)


@pytest.mark.parametrize(
    ("last", "streak", "expected"),
    [
        (None, 0, 1),
        (TODAY - dt.timedelta(days=1), 4, 5),
        (TODAY - dt.timedelta(days=2), 4, 1),
        (TODAY, 4, None),
    ],
)
def test_next_streak(last, streak, expected):
    assert rules.next_streak(last, streak, TODAY) == expected


def test_sign_in_points_add_the_bonus_of_that_streak_day():
    r = rule(kind="sign_in", points=5, streak_bonus=(StreakBonus(3, 5), StreakBonus(7, 20)))
    assert [rules.sign_in_points(r, d) for d in (1, 3, 7, 8)] == [5, 10, 25, 5]


def test_rebate_counts_whole_yuan_times_multiplier():
    r = rule(kind="purchase_rebate", points=1)
    assert rules.rebate_points(r, 12_399, 1) == 123
    assert rules.rebate_points(r, 12_399, 10) == 1230
    assert rules.rebate_points(r, 99, 10) == 0
    assert rules.rebate_points(r, -5, 1) == 0


def test_grant_amount():
    assert rules.grant_amount(rule(points=10), None) == (10, None)
    assert rules.grant_amount(rule(points=10), 10) == (10, None)
    assert rules.grant_amount(rule(points=10), 11)[1]
    assert rules.grant_amount(rule(), None)[1] == "required for this rule"
    assert rules.grant_amount(rule(), 0)[1] == "must be positive"
    assert rules.grant_amount(rule(), 7) == (7, None)


def test_problems_name_every_bad_field():
    bad = EarningRule(
        rule_code="Bad Code",
        kind="nope",
        points=-1,
        period_cap=10,
        streak_bonus=(StreakBonus(0, 1),),
    )
    fields = [f for f, _ in rules.problems(bad)]
    assert fields == [
        "rule.rule_code",
        "rule.kind",
        "rule.points",
        "rule.period_days",
        "rule.streak_bonus",
        "rule.streak_bonus[0].day",
    ]
    assert rules.problems(rule(kind="sign_in", points=5, streak_bonus=(StreakBonus(3, 5),))) == []


def test_merchant_grant_rules_must_be_merchant_funded():
    fields = [f for f, _ in rules.problems(rule(kind="merchant_grant"))]
    assert fields == ["rule.merchant_funded"]


@pytest.mark.parametrize(
    ("current", "event", "after"),
    [
        (None, "activated", sub.ACTIVE),
        (sub.ACTIVE, "renewal_failed", sub.GRACE),
        (sub.GRACE, "renewed", sub.ACTIVE),
        (sub.ACTIVE, "cancelled", sub.CANCELLED),
        (sub.CANCELLED, "renewal_failed", None),
        (sub.ACTIVE, "expired", sub.EXPIRED),
        (sub.EXPIRED, "activated", None),
        (sub.EXPIRED, "renewed", None),
        (sub.GRACE, "activated", None),
        (None, "expired", sub.EXPIRED),
        (sub.ACTIVE, "activated", None),
        (sub.ACTIVE, "benefit_claimed", None),
        (sub.ACTIVE, "renewed", sub.ACTIVE),
        (sub.CANCELLED, "resumed", sub.ACTIVE),
        (sub.ACTIVE, "resumed", None),
        (sub.GRACE, "resumed", None),
        (sub.GRACE, "plan_changed", sub.GRACE),
        (sub.CANCELLED, "plan_changed", sub.CANCELLED),
        (None, "plan_changed", sub.ACTIVE),
        (sub.EXPIRED, "plan_changed", None),
    ],
)
def test_subscription_state_tolerates_any_order(current, event, after):
    assert sub.state_after(current, event) == after


def test_renewed_keeps_a_known_multiplier_and_plan_changed_sets_it():
    assert sub.multiplier_after(sub.ACTIVE, "renewed", 5) == 0
    assert sub.multiplier_after(None, "renewed", 5) == 5
    assert sub.multiplier_after(sub.ACTIVE, "plan_changed", 5) == 5
    assert sub.multiplier_after(sub.GRACE, "activated", 7) == 7


def test_multiplier_is_the_best_multiplying_subscription():
    assert sub.multiplier([], 10) == 1
    assert sub.multiplier([(sub.EXPIRED, 10)], 10) == 1
    assert sub.multiplier([(sub.GRACE, 0)], 10) == 10
    assert sub.multiplier([(sub.ACTIVE, 5), (sub.CANCELLED, 8)], 10) == 8
