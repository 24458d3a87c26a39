"""Plans: validation with field problems, versions, and calendar period arithmetic."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from services.subscription.domain import plans
from services.subscription.domain.plans import (
    Benefit,
    BenefitKind,
    Period,
    PeriodUnit,
    PlanKind,
    add_period,
    anchor_after,
    member_price,
    plan_problems,
    version_problems,
)
from tests.unit.subscription.samples import MONTHLY, QUARTERLY, SH, TRIAL, YEARLY, ZONE, at

MONTH = Period(1, PeriodUnit.MONTH)


def _fields(problems):
    return {(p.field, p.reason) for p in problems}


def test_the_sample_plans_are_valid():
    for plan in (MONTHLY, QUARTERLY, YEARLY, TRIAL):
        assert plan_problems(plan) == [], plan.code


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        ({"code": "Plus"}, "code", "INVALID_ARGUMENT"),
        ({"code": "p"}, "code", "INVALID_ARGUMENT"),
        ({"version": 0}, "version", "INVALID_ARGUMENT"),
        ({"price_minor": 0}, "price_minor", "INVALID_ARGUMENT"),
        ({"price_minor": -1}, "price_minor", "INVALID_ARGUMENT"),
        ({"price_minor": plans.MAX_PRICE_MINOR + 1}, "price_minor", "INVALID_ARGUMENT"),
        ({"currency": "cny"}, "currency", "INVALID_ARGUMENT"),
        ({"currency": "CNYY"}, "currency", "INVALID_ARGUMENT"),
        ({"points_multiplier": 0}, "points_multiplier", "INVALID_ARGUMENT"),
        ({"points_multiplier": 101}, "points_multiplier", "INVALID_ARGUMENT"),
        ({"member_discount_bp": -1}, "member_discount_bp", "INVALID_ARGUMENT"),
        ({"member_discount_bp": 10_000}, "member_discount_bp", "INVALID_ARGUMENT"),
        ({"period": Period(2, PeriodUnit.MONTH)}, "period", "INVALID_ARGUMENT"),
        ({"period": Period(30, PeriodUnit.DAY)}, "period", "INVALID_ARGUMENT"),
    ],
)
def test_a_bad_field_is_named(change, field, reason):
    assert _fields(plan_problems(dataclasses.replace(MONTHLY, **change))) == {(field, reason)}


def test_every_bad_field_is_named_at_once():
    bad = dataclasses.replace(MONTHLY, code="X", price_minor=0, currency="", points_multiplier=0)
    assert {p.field for p in plan_problems(bad)} == {
        "code",
        "price_minor",
        "currency",
        "points_multiplier",
    }


def test_a_kind_fixes_its_length():
    assert plan_problems(dataclasses.replace(QUARTERLY, period=Period(4, PeriodUnit.MONTH)))
    assert plan_problems(dataclasses.replace(YEARLY, period=Period(365, PeriodUnit.DAY)))
    assert not plan_problems(dataclasses.replace(YEARLY, period=Period(12, PeriodUnit.MONTH)))


def test_a_trial_is_free_and_counted_in_days():
    assert _fields(plan_problems(dataclasses.replace(TRIAL, price_minor=100))) == {
        ("price_minor", "TRIAL_NOT_FREE")
    }
    assert plan_problems(dataclasses.replace(TRIAL, period=Period(1, PeriodUnit.MONTH)))
    assert plan_problems(dataclasses.replace(TRIAL, period=Period(32, PeriodUnit.DAY)))
    assert not plan_problems(dataclasses.replace(TRIAL, period=Period(31, PeriodUnit.DAY)))


def test_benefits_are_checked_one_by_one():
    benefits = (
        Benefit("coupons", BenefitKind.COUPON_PACK, 0, 500),
        Benefit("coupons", BenefitKind.COUPON_PACK, 4, -1),
        Benefit("Bad id", BenefitKind.SERVICE_PERK, 1001, 0),
    )
    assert _fields(plan_problems(dataclasses.replace(MONTHLY, benefits=benefits))) == {
        ("benefits[0].quantity", "INVALID_ARGUMENT"),
        ("benefits[1].benefit_id", "DUPLICATE_BENEFIT"),
        ("benefits[1].value_minor", "INVALID_ARGUMENT"),
        ("benefits[2].benefit_id", "INVALID_ARGUMENT"),
        ("benefits[2].quantity", "INVALID_ARGUMENT"),
    }
    many = tuple(
        Benefit(f"b{i:02d}", BenefitKind.SERVICE_PERK, 1, 0) for i in range(plans.MAX_BENEFITS + 1)
    )
    assert _fields(plan_problems(dataclasses.replace(MONTHLY, benefits=many))) == {
        ("benefits", "INVALID_ARGUMENT")
    }


def test_benefit_lookup():
    assert YEARLY.benefit("video_vip").kind is BenefitKind.PARTNER_PERK
    assert YEARLY.benefit("nope") is None


# --- versions ---------------------------------------------------------------------------------
def test_the_first_version_is_1_and_each_follows_by_one():
    assert version_problems(None, MONTHLY) == []
    v2 = dataclasses.replace(MONTHLY, version=2, price_minor=1_800)
    assert version_problems(MONTHLY, v2) == []
    assert _fields(version_problems(MONTHLY, dataclasses.replace(v2, version=3))) == {
        ("version", "PLAN_VERSION_CONFLICT")
    }
    assert _fields(version_problems(v2, v2)) == {("version", "PLAN_VERSION_CONFLICT")}
    assert _fields(version_problems(None, v2)) == {("version", "PLAN_VERSION_CONFLICT")}


def test_a_version_keeps_kind_and_currency():
    v2 = dataclasses.replace(MONTHLY, version=2, kind=PlanKind.QUARTERLY, currency="USD")
    assert _fields(version_problems(MONTHLY, v2)) == {
        ("kind", "PLAN_KIND_CHANGED"),
        ("currency", "PLAN_CURRENCY_CHANGED"),
    }
    with pytest.raises(ValueError):
        version_problems(MONTHLY, dataclasses.replace(YEARLY, version=2))


def test_same_version():
    assert MONTHLY.same_version(dataclasses.replace(MONTHLY, price_minor=1))
    assert not MONTHLY.same_version(dataclasses.replace(MONTHLY, version=2))


# --- period arithmetic -------------------------------------------------------------------------
def _local(instant):
    return instant.astimezone(SH).replace(tzinfo=None)


@pytest.mark.parametrize(
    ("start", "period", "end"),
    [
        (at(2025, 6, 15, 14, 30), MONTH, dt.datetime(2025, 7, 15, 14, 30)),
        (at(2025, 1, 31, 10), MONTH, dt.datetime(2025, 2, 28, 10)),  # clamped
        (at(2024, 1, 31, 10), MONTH, dt.datetime(2024, 2, 29, 10)),  # leap year
        (at(2025, 3, 31), MONTH, dt.datetime(2025, 4, 30)),
        (at(2025, 12, 31, 23, 59), MONTH, dt.datetime(2026, 1, 31, 23, 59)),  # year end
        (at(2024, 11, 30), Period(3, PeriodUnit.MONTH), dt.datetime(2025, 2, 28)),
        (at(2024, 2, 29), Period(12, PeriodUnit.MONTH), dt.datetime(2025, 2, 28)),
        (at(2025, 2, 25, 9), Period(7, PeriodUnit.DAY), dt.datetime(2025, 3, 4, 9)),
        (at(2024, 2, 25, 9), Period(7, PeriodUnit.DAY), dt.datetime(2024, 3, 3, 9)),
    ],
)
def test_add_a_period(start, period, end):
    assert _local(add_period(start, period, ZONE)) == end


def test_months_are_counted_in_the_business_zone():
    # 16:30 UTC on 31 Jan is 00:30 on 1 Feb in Shanghai: a month later is 1 Mar 00:30 there,
    # not 28 Feb (which UTC arithmetic would give).
    start = dt.datetime(2025, 1, 31, 16, 30, tzinfo=dt.UTC)
    end = add_period(start, MONTH, ZONE)
    assert end == dt.datetime(2025, 2, 28, 16, 30, tzinfo=dt.UTC)
    assert _local(end) == dt.datetime(2025, 3, 1, 0, 30)
    assert end.tzinfo is dt.UTC


def test_a_cycle_keeps_its_anchor_day():
    # Jan 31 → Feb 28 → Mar 31 → Apr 30 → May 31: never drifting to the 28th.
    end, anchor = at(2025, 1, 31, 10), None
    seen = []
    for _ in range(4):
        anchor = anchor_after(end, MONTH, ZONE, anchor)
        end = add_period(end, MONTH, ZONE, anchor)
        seen.append(_local(end).date())
    assert anchor == 31
    assert [d.isoformat() for d in seen] == ["2025-02-28", "2025-03-31", "2025-04-30", "2025-05-31"]


def test_without_the_anchor_a_month_end_drifts():
    # What the anchor prevents: chaining plain additions from Feb 28 stays on the 28th.
    assert _local(add_period(at(2025, 2, 28, 10), MONTH, ZONE)).day == 28
    assert _local(add_period(at(2025, 2, 28, 10), MONTH, ZONE, 31)).day == 31
    assert _local(add_period(at(2025, 2, 28, 10), MONTH, ZONE, 30)).day == 30


def test_an_off_cycle_start_ignores_the_anchor():
    # A month counted from the 15th (after a trial's days, say) is not pulled to the 31st.
    assert _local(add_period(at(2025, 3, 15), MONTH, ZONE, 31)) == dt.datetime(2025, 4, 15)
    assert anchor_after(at(2025, 3, 15), MONTH, ZONE, 31) == 15
    assert anchor_after(at(2025, 3, 15), Period(7, PeriodUnit.DAY), ZONE, 31) is None


def test_a_yearly_cycle_from_29_february_returns_to_it():
    anchor = anchor_after(at(2024, 2, 29), Period(12, PeriodUnit.MONTH), ZONE, None)
    end = at(2024, 2, 29)
    for _ in range(4):
        end = add_period(end, Period(12, PeriodUnit.MONTH), ZONE, anchor)
    assert _local(end).date() == dt.date(2028, 2, 29)


def test_days_follow_the_wall_clock_across_daylight_saving():
    # Berlin moves its clocks on 30 March 2025: one calendar day is 23 hours there.
    start = dt.datetime(2025, 3, 29, 12, tzinfo=dt.UTC)  # 13:00 CET
    end = add_period(start, Period(1, PeriodUnit.DAY), "Europe/Berlin")
    assert end - start == dt.timedelta(hours=23)


def test_naive_instants_and_empty_periods_are_refused():
    with pytest.raises(ValueError):
        add_period(dt.datetime(2025, 1, 1), MONTH, ZONE)
    with pytest.raises(ValueError):
        add_period(at(2025, 1, 1), Period(0, PeriodUnit.MONTH), ZONE)


# --- member price ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("price", "bp", "expected"),
    [
        (10_000, 500, 9_500),
        (1_999, 500, 1_900),  # discount 99.95 → 99 fen: the member pays the fraction
        (1, 500, 1),
        (0, 500, 0),
        (10_000, 0, 10_000),
        (10_000, 9_999, 1),
    ],
)
def test_member_price(price, bp, expected):
    assert member_price(price, bp) == expected


def test_member_price_refuses_nonsense():
    with pytest.raises(ValueError):
        member_price(-1, 500)
    with pytest.raises(ValueError):
        member_price(100, 10_000)
