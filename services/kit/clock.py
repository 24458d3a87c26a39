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
