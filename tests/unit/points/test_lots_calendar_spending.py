"""Lots (earliest expiry first), the business calendar, deduction share, refund proportions."""

from __future__ import annotations

import datetime as dt

import pytest

from services.points.domain import calendar, spending
from services.points.domain.lots import Allocation, Lot, Taken, allocate, give_back

D = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


def test_allocate_takes_earliest_expiry_first():
    lots = [Lot("b", 50, D + dt.timedelta(days=2)), Lot("a", 30, D), Lot("c", 10, D)]
    assert allocate(lots, 45) == [Allocation("a", 30), Allocation("c", 10), Allocation("b", 5)]


def test_allocate_refuses_more_than_the_lots_hold():
    with pytest.raises(ValueError):
        allocate([Lot("a", 3, D)], 4)
    with pytest.raises(ValueError):
        allocate([Lot("a", 3, D)], 0)


def test_give_back_fills_latest_expiry_first_up_to_what_was_taken():
    taken = [Taken("a", 30, 10, D), Taken("b", 5, 0, D + dt.timedelta(days=1))]
    back, rest = give_back(taken, 40)
    assert back == [Allocation("b", 5), Allocation("a", 20)]
    assert rest == 15


def test_business_day_uses_the_zone():
    late = dt.datetime(2025, 6, 1, 16, 0, tzinfo=dt.UTC)  # midnight in Shanghai
    assert calendar.business_day(late, "Asia/Shanghai") == dt.date(2025, 6, 2)
    assert calendar.business_day(late, "UTC") == dt.date(2025, 6, 1)


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (dt.date(2025, 1, 31), 1, dt.date(2025, 2, 28)),
        (dt.date(2024, 2, 29), 12, dt.date(2025, 2, 28)),
        (dt.date(2025, 11, 15), 3, dt.date(2026, 2, 15)),
        (dt.date(2025, 12, 31), 12, dt.date(2026, 12, 31)),
    ],
)
def test_add_months_clamps_to_month_end(day, months, expected):
    assert calendar.add_months(day, months) == expected


def test_lot_expiry_is_the_end_of_the_business_day_a_year_later():
    credited = dt.datetime(2025, 3, 1, 17, 0, tzinfo=dt.UTC)  # 2 March 01:00 in Shanghai
    assert calendar.lot_expiry(credited, "Asia/Shanghai", 12) == dt.datetime(
        2026, 3, 2, 16, 0, tzinfo=dt.UTC
    )


@pytest.mark.parametrize(
    ("points", "order_minor", "ok"),
    [(5000, 10_000, True), (5001, 10_000, False), (1, 2, True), (1, 1, False), (0, 0, True)],
)
def test_deduction_share_is_exact_in_integers(points, order_minor, ok):
    assert spending.within_share(points, order_minor, 50, 100) is ok


def test_max_points_for_an_order():
    assert spending.max_points_for(10_000, 50, 100) == 5000
    assert spending.max_points_for(199, 50, 100) == 99


@pytest.mark.parametrize(
    ("rebate", "paid", "refunded", "target"),
    [
        (80, 8000, 4000, 40),
        (80, 8000, 8000, 80),
        (80, 8000, 9000, 80),
        (10, 3000, 1000, 3),
        (0, 3000, 1000, 0),
        (10, 0, 0, 0),
    ],
)
def test_reversal_target_is_proportional_and_never_more_than_the_rebate(
    rebate, paid, refunded, target
):
    assert spending.reversal_target(rebate, paid, refunded) == target


def test_partial_refunds_add_up_to_the_whole_rebate():
    reversed_so_far, refunded = 0, 0
    for part in (1000, 1000, 1000):
        refunded += part
        reversed_so_far = spending.reversal_target(10, 3000, refunded)
    assert reversed_so_far == 10
