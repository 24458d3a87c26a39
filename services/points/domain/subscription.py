"""Local projection of subscription state: which members earn rebates with a multiplier."""

from __future__ import annotations

MAX_MULTIPLIER = 100  # the most a subscription multiplies a purchase rebate by

ACTIVE, GRACE, CANCELLED, EXPIRED = "active", "grace", "cancelled", "expired"
# A cancelled subscription runs to its period end; grace keeps benefits until it ends.
MULTIPLYING = frozenset({ACTIVE, GRACE, CANCELLED})

_EVENT_STATES = {
    "activated": ACTIVE,
    "renewed": ACTIVE,
    "renewal_failed": GRACE,
    "cancelled": CANCELLED,
    "expired": EXPIRED,
    "refunded": EXPIRED,
}


def state_after(current: str | None, event: str) -> str | None:
    """The state after a subscription event, or None when the event changes nothing.

    Events arrive in any order: `expired` is final for a subscription id (a new purchase is a
    new subscription), so a late `activated` never revives it; a late `activated` after
    `cancelled` or `renewal_failed` does not undo them either.
    """
    target = _EVENT_STATES.get(event)
    if target is None or current == EXPIRED:
        return None
    if current in (GRACE, CANCELLED) and event == "activated":
        return None
    if current == CANCELLED and target == GRACE:
        return None
    return target if target != current else None


def multiplier(states: list[tuple[str, int]], default_multiplier: int) -> int:
    """The member's rebate multiplier: the best of their multiplying subscriptions, else 1;
    never more than MAX_MULTIPLIER (events beyond it are refused; this also bounds values kept
    from before that check, and the setting)."""
    best = 1
    for state, value in states:
        if state in MULTIPLYING:
            best = max(best, value if value > 0 else default_multiplier)
    return min(best, MAX_MULTIPLIER)
