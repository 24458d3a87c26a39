"""The business calendar growth counts in: months of the business zone, the 12-month window, and
the settlement periods.

**The window is whole local days.** A score at instant `end` counts the facts dated from local
midnight of the same calendar day 12 months earlier (clamped to the month's end: 29 Feb → 28
Feb) up to, not including, `end`. For a settlement `end` is a 1st at local midnight, so the window
is exactly the 12 previous calendar months: settled at 2026-11-01T00:00+08:00 it runs from
2025-11-01T00:00+08:00 (inclusive) to 2026-11-01T00:00+08:00 (exclusive). A fact on 31 Oct 2026
(local) counts; one on 31 Oct 2025 does not. Days and months are the business zone's, never
UTC's: 2026-10-31T16:30Z is 1 Nov 00:30 in Shanghai and belongs to November.

**A period is the month a settlement closes**, named "YYYY-MM": period "2026-10" is settled on
2026-11-01 at local midnight. The name depends only on the instant, so every replica, retry and
re-run of a settlement computes the same name (it is part of the gift reference, gifts.py).
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo

DEFAULT_ZONE = "Asia/Shanghai"
WINDOW_MONTHS = 12
_PERIOD = re.compile(r"(\d{4})-(0[1-9]|1[0-2])")


def _aware(instant: dt.datetime) -> None:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError("instants are timezone-aware")


def add_months(day: dt.date, months: int) -> dt.date:
    """Same day-of-month `months` later (or earlier), clamped to the month's end."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def local_day(at: dt.datetime, zone: str) -> dt.date:
    _aware(at)
    return at.astimezone(ZoneInfo(zone)).date()


def midnight(day: dt.date, zone: str) -> dt.datetime:
    """Local midnight starting `day`, as UTC."""
    return dt.datetime.combine(day, dt.time(), ZoneInfo(zone)).astimezone(dt.UTC)


def month_key(at: dt.datetime, zone: str) -> str:
    """The local month `at` falls in: "2026-10"."""
    day = local_day(at, zone)
    return f"{day.year:04d}-{day.month:02d}"


@dataclass(frozen=True)
class Window:
    """The facts dated in [start, end) count; both UTC."""

    start: dt.datetime
    end: dt.datetime

    def __contains__(self, at: object) -> bool:
        if not isinstance(at, dt.datetime):
            return False
        return self.start <= at < self.end


def window_ending(end: dt.datetime, zone: str = DEFAULT_ZONE) -> Window:
    """The 12-month window a score at `end` counts (see the module doc)."""
    first = add_months(local_day(end, zone), -WINDOW_MONTHS)
    return Window(midnight(first, zone), end.astimezone(dt.UTC))


# --- settlement periods ----------------------------------------------------------------------
def period_problem(period: str) -> str | None:
    return None if _PERIOD.fullmatch(period) else 'a month as "YYYY-MM"'


def _split(period: str) -> tuple[int, int]:
    match = _PERIOD.fullmatch(period)
    if not match:
        raise ValueError(f'a period is a month as "YYYY-MM", not {period!r}')
    return int(match.group(1)), int(match.group(2))


def period_index(period: str) -> int:
    """Months since year 0: differences of indexes count months between periods."""
    year, month = _split(period)
    return year * 12 + month - 1


def period_of_index(index: int) -> str:
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def months_between(earlier: str, later: str) -> int:
    return period_index(later) - period_index(earlier)


def settlement_instant(period: str, zone: str = DEFAULT_ZONE) -> dt.datetime:
    """When `period` is settled: the 1st of the next month at local midnight, as UTC."""
    year, month = _split(period)
    return midnight(add_months(dt.date(year, month, 1), 1), zone)


def is_settlement_instant(at: dt.datetime, zone: str = DEFAULT_ZONE) -> bool:
    day = local_day(at, zone)
    return day.day == 1 and midnight(day, zone) == at.astimezone(dt.UTC)


def settled_period(at: dt.datetime, zone: str = DEFAULT_ZONE) -> str:
    """The period a settlement at `at` closes: the month before `at`'s (a 1st at midnight)."""
    if not is_settlement_instant(at, zone):
        raise ValueError("settlements happen on the 1st at local midnight")
    return period_of_index(period_index(month_key(at, zone)) - 1)


def due_period(now: dt.datetime, zone: str = DEFAULT_ZONE) -> str:
    """The newest period whose settlement instant is not after `now`: the one to settle now
    (the previous month's, from the 1st at 00:00 on)."""
    return period_of_index(period_index(month_key(now, zone)) - 1)


def last_settlement_counting(fact_at: dt.datetime, zone: str = DEFAULT_ZONE) -> dt.datetime:
    """The last settlement instant whose window still holds a fact dated `fact_at`: the 1st of
    the month 12 months after its local day (its window starts on the 1st of that day's month)."""
    later = add_months(local_day(fact_at, zone), WINDOW_MONTHS)
    return midnight(later.replace(day=1), zone)
