"""Curves: exact integer values, flat beyond the last point, the least input for a target,
and what an upload may not contain."""

from __future__ import annotations

import pytest

from services.growth.domain.curves import curve, curve_problems

SPEND = curve((0, 0), (200_000, 1_000), (1_000_000, 2_500), (4_000_000, 4_000))


@pytest.mark.parametrize(
    ("x", "y"),
    [
        (-5, 0),  # nothing below zero (net spend is never negative anyway)
        (0, 0),
        (199, 0),  # ⌊199 × 1000 / 200000⌋ = 0
        (200, 1),
        (100_000, 500),
        (200_000, 1_000),  # exactly the point
        (200_001, 1_000),  # ⌊1 × 1500 / 800000⌋ = 0
        (600_000, 1_750),  # 1000 + ⌊400000 × 1500 / 800000⌋
        (4_000_000, 4_000),
        (10**12, 4_000),  # flat beyond the last point
    ],
)
def test_values_are_floors_of_the_segment(x, y):
    assert SPEND(x) == y


def test_the_least_input_for_a_target():
    assert SPEND.smallest_x(0) == 0
    assert SPEND.smallest_x(1) == 200
    assert SPEND.smallest_x(1_750) == 600_000
    assert SPEND.smallest_x(1_751) == 600_534  # ⌈751 × 800000 / 1500⌉ + 200000
    assert SPEND(600_534) == 1_751 and SPEND(600_533) == 1_750
    assert SPEND.smallest_x(4_000) == 4_000_000
    assert SPEND.smallest_x(4_001) is None


def test_a_flat_start_is_allowed_for_risk_curves():
    credit = curve((0, 0), (60, 0), (100, 200))
    assert (credit(59), credit(60), credit(80)) == (0, 0, 100)
    assert credit.smallest_x(1) == 61
    assert curve_problems(credit, "risk.credit", concave=False) == []
    assert curve_problems(credit, "risk.credit", concave=True)[0].reason == "NOT_DIMINISHING"


def test_diminishing_returns_means_slopes_never_rise():
    assert SPEND.concave
    assert not curve((0, 0), (10, 10), (20, 30)).concave
    assert curve((0, 0), (10, 10), (20, 20)).concave  # straight is not rising


def test_curve_problems_name_the_point():
    def fields(c, concave=True):
        return [
            (p.field, p.reason) for p in curve_problems(c, "consumption.spend", concave=concave)
        ]

    assert fields(curve()) == [("consumption.spend.points", "INVALID_ARGUMENT")]
    assert fields(curve((5, 0), (10, 10))) == [
        ("consumption.spend.points[0].x", "INVALID_ARGUMENT")
    ]
    assert fields(curve((0, 0), (10, 10), (10, 20))) == [
        ("consumption.spend.points[2].x", "UNSORTED")
    ]
    assert fields(curve((0, 0), (10, 10), (20, 5))) == [
        ("consumption.spend.points[2].y", "INVALID_ARGUMENT")
    ]
    assert fields(curve((0, -1), (10, 10))) == [
        ("consumption.spend.points[0].y", "INVALID_ARGUMENT")
    ]
