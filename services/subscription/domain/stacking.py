"""How far ahead stacked terms may reach: a purchase (or code, or gift) while live adds a term
after the last, but not beyond a limit ahead of now (3 years by default), so that nobody buys a
decade of membership by mistake and refunds stay a matter of a few terms."""

from __future__ import annotations

import datetime as dt

from services.kit.refusals import Refusal

DEFAULT_LIMIT = dt.timedelta(days=3 * 366)


def stacking_refusal(
    period_end: dt.datetime | None, now: dt.datetime, limit: dt.timedelta = DEFAULT_LIMIT
) -> Refusal | None:
    """Whether a subscription held until `period_end` (after the new term) reaches too far."""
    if period_end is None or period_end <= now + limit:
        return None
    return Refusal(
        "STACKING_LIMIT_REACHED",
        f"stacked terms reach at most {limit.days} days ahead",
        metadata={"limit_days": str(limit.days)},
    )
