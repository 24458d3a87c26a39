"""The service's clock: every use case asks it for the time, so tests can set it."""

from __future__ import annotations

import datetime as dt


class Clock:
    """UTC now; `set` and `advance` fix it (tests, and commands replaying a day)."""

    def __init__(self) -> None:
        self.fixed: dt.datetime | None = None

    def now(self) -> dt.datetime:
        return self.fixed or dt.datetime.now(dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now()

    def set(self, when: dt.datetime | None) -> None:
        self.fixed = when

    def advance(self, **delta: float) -> dt.datetime:
        self.fixed = self.now() + dt.timedelta(**delta)
        return self.fixed


def command_time(value: str) -> dt.datetime:
    """DEVELOPMENT ONLY: the instant of `<SVC>_DEV_COMMAND_TIME` (`LOYALTY_DEV_COMMAND_TIME`),
    at which an operator command acts instead of now, so that a development run can replay
    what is due in a month (a renewal, a grace ending, the settlement of the 1st) without
    waiting for it. Serving processes refuse the setting (kit.service): a replica never runs on
    a moved clock, only a one-off command beside them. An ISO 8601 instant with its UTC offset;
    anything else is a ValueError."""
    try:
        when = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        when = None
    if when is None or when.utcoffset() is None:
        raise ValueError(
            f"{value!r} is no ISO 8601 instant with its offset (e.g. 2026-08-01T00:10:00+08:00)"
        )
    return when.astimezone(dt.UTC)
