"""The business calendar: the 12-month window's edges in the business zone, and period names."""

from __future__ import annotations

import datetime as dt

import pytest

from services.growth.domain import periods
from services.growth.domain.facts import FactBook
from services.growth.domain.periods import (
    due_period,
    is_settlement_instant,
    last_settlement_counting,
    month_key,
    months_between,
    settled_period,
    settlement_instant,
    window_ending,
)
from tests.unit.growth.samples import SETTLED, ZONE, at, order


def test_a_settlement_window_is_the_twelve_previous_local_months():
    window = window_ending(SETTLED, ZONE)
    assert window.start == at(2025, 11, 1) == dt.datetime(2025, 10, 31, 16, tzinfo=dt.UTC)
    assert window.end == SETTLED == dt.datetime(2026, 10, 31, 16, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("when", "counts"),
    [
        (at(2026, 10, 31, 23, 59), True),  # the last day of the window counts
        (at(2026, 11, 1), False),  # the settlement instant itself is the next period's
        (at(2025, 11, 1), True),  # the first day counts, from midnight
        (at(2025, 10, 31, 23, 59), False),  # the day before drops out
    ],
)
def test_the_window_edges(when, counts):
    assert (when in window_ending(SETTLED, ZONE)) is counts


def test_the_window_is_the_business_zones_not_utcs():
    window = window_ending(SETTLED, ZONE)
    # 31 Oct 2026 16:30 UTC is 1 Nov 00:30 in Shanghai: November's, not in October's window.
    assert dt.datetime(2026, 10, 31, 16, 30, tzinfo=dt.UTC) not in window
    # 31 Oct 2025 16:30 UTC is 1 Nov 2025 00:30 in Shanghai: the window's first day.
    assert dt.datetime(2025, 10, 31, 16, 30, tzinfo=dt.UTC) in window
    # 31 Oct 2025 15:59 UTC is 23:59 on 31 Oct in Shanghai: out.
    assert dt.datetime(2025, 10, 31, 15, 59, tzinfo=dt.UTC) not in window
    # And in UTC terms the window would be different: the zone decides.
    utc = window_ending(dt.datetime(2026, 11, 1, tzinfo=dt.UTC), "UTC")
    assert dt.datetime(2026, 10, 31, 16, 30, tzinfo=dt.UTC) in utc


def test_an_order_on_the_last_day_counts_and_one_a_day_too_old_does_not():
    last_day = order(at(2026, 10, 31, 23, 59), ("books", 100))
    too_old = order(at(2025, 10, 31, 12), ("books", 200))
    first_day = order(at(2025, 11, 1), ("books", 400))
    orders = FactBook.of([last_day, too_old, first_day]).net_orders(
        window_ending(SETTLED, ZONE), "CNY"
    )
    assert sorted(o.net_minor for o in orders) == [100, 400]


def test_a_provisional_window_runs_from_the_same_day_a_year_ago():
    now = at(2026, 11, 15, 14, 30)
    window = window_ending(now, ZONE)
    assert (window.start, window.end) == (at(2025, 11, 15), now)
    # 29 Feb has no twin a year earlier or later: the month's last day.
    assert window_ending(at(2028, 2, 29, 9), ZONE).start == at(2027, 2, 28)


def test_period_names_and_instants():
    assert settled_period(SETTLED, ZONE) == "2026-10"
    assert settlement_instant("2026-10", ZONE) == SETTLED
    assert settlement_instant("2026-12", ZONE) == at(2027, 1, 1)
    assert settled_period(at(2027, 1, 1), ZONE) == "2026-12"
    assert month_key(dt.datetime(2026, 10, 31, 16, 30, tzinfo=dt.UTC), ZONE) == "2026-11"
    assert months_between("2025-11", "2026-10") == 11
    assert months_between("2025-10", "2026-10") == 12


def test_only_a_first_at_local_midnight_is_a_settlement_instant():
    assert is_settlement_instant(SETTLED, ZONE)
    assert not is_settlement_instant(dt.datetime(2026, 11, 1, tzinfo=dt.UTC), ZONE)
    assert not is_settlement_instant(at(2026, 11, 2), ZONE)
    with pytest.raises(ValueError):
        settled_period(at(2026, 11, 1, 0, 1), ZONE)


def test_the_period_due_is_the_previous_month_from_the_first_on():
    assert due_period(SETTLED, ZONE) == "2026-10"
    assert due_period(SETTLED - dt.timedelta(seconds=1), ZONE) == "2026-09"
    assert due_period(at(2026, 11, 30, 23), ZONE) == "2026-10"


def test_the_last_settlement_a_fact_counts_in():
    assert last_settlement_counting(at(2026, 2, 10), ZONE) == at(2027, 2, 1)
    assert last_settlement_counting(at(2026, 2, 1), ZONE) == at(2027, 2, 1)
    assert last_settlement_counting(at(2026, 1, 31, 23, 59), ZONE) == at(2027, 1, 1)
    # and it does count there, and not a month later
    fact_at = at(2026, 2, 10)
    assert fact_at in window_ending(at(2027, 2, 1), ZONE)
    assert fact_at not in window_ending(at(2027, 3, 1), ZONE)


def test_bad_periods_and_naive_instants_are_refused():
    assert periods.period_problem("2026-13")
    assert periods.period_problem("2026-1")
    assert periods.period_problem("2026-01") is None
    with pytest.raises(ValueError):
        settlement_instant("2026-13", ZONE)
    with pytest.raises(ValueError):
        window_ending(dt.datetime(2026, 11, 1), ZONE)
