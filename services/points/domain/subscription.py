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
    "resumed": ACTIVE,
    "expired": EXPIRED,
    "refunded": EXPIRED,
}
# Events that move the period end (or the plan) without necessarily changing the state.
_KEEP_STATE = frozenset({"renewed", "plan_changed"})


def state_after(current: str | None, event: str) -> str | None:
    """The state after a subscription event, or None when the event changes nothing.

    Events arrive in any order: `expired` is final for a subscription id (a new purchase is a
    new subscription), so a late `activated` never revives it; a late `activated` after
    `cancelled` or `renewal_failed` does not undo them either. `resumed` undoes `cancelled`
    only. `renewed` while active and `plan_changed` in any running state keep the state but
    still apply (a new period end, a new multiplier).
    """
    if current == EXPIRED:
        return None
    if event == "plan_changed":
        return current or ACTIVE
    target = _EVENT_STATES.get(event)
    if target is None:
        return None
    if current in (GRACE, CANCELLED) and event == "activated":
        return None
    if current == CANCELLED and target == GRACE:
        return None
    if event == "resumed" and current != CANCELLED:
        return None
    if target == current and event not in _KEEP_STATE:
        return None
    return target


def multiplier_after(current: str | None, event: str, value: int) -> int:
    """The multiplier an event sets (0: keep the one projected). `renewed` names the new
    term's plan, which may begin later (a stacked term of another plan): the plan in effect
    changes with `plan_changed` at its effective time, so a known subscription keeps its
    multiplier on `renewed`."""
    if event == "renewed" and current is not None:
        return 0
    return value


def multiplier(states: list[tuple[str, int]], default_multiplier: int) -> int:
    """The member's rebate multiplier: the best of their multiplying subscriptions, else 1;
    never more than MAX_MULTIPLIER (events beyond it are refused; this also bounds values kept
    from before that check, and the setting)."""
    best = 1
    for state, value in states:
        if state in MULTIPLYING:
            best = max(best, value if value > 0 else default_multiplier)
    return min(best, MAX_MULTIPLIER)
