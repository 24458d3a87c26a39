"""The business calendar: days in the configured zone, lot expiry dates."""

from __future__ import annotations

import calendar
import datetime as dt
from zoneinfo import ZoneInfo


def business_day(now: dt.datetime, zone: str) -> dt.date:
    """The calendar day `now` falls on in the business zone."""
    return now.astimezone(ZoneInfo(zone)).date()


def add_months(day: dt.date, months: int) -> dt.date:
    """Same day-of-month `months` later, clamped to the month's end (31 Jan + 1 → 28/29 Feb)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def start_of_day(day: dt.date, zone: str) -> dt.datetime:
    """Midnight starting `day` in the business zone, in UTC."""
    return dt.datetime.combine(day, dt.time(), ZoneInfo(zone)).astimezone(dt.UTC)


def lot_expiry(now: dt.datetime, zone: str, months: int) -> dt.datetime:
    """A lot credited `now` lasts `months` and expires at the end of that business day.

    Day boundaries make every lot credited on one day expire together, so members are told
    once per day of expiry rather than once per credit.
    """
    last_day = add_months(business_day(now, zone), months)
    return start_of_day(last_day + dt.timedelta(days=1), zone)
