"""Renewals: when the job asks for a charge, for how much, how often it tries again; what a
charge's answer does; grace; and what the clock alone does (the expiry job).

- **Due**: `lead` (1 day) before the period end, so that an ordinary card decline is known, and
  grace started, before the paid time runs out; the subscriber keeps the benefits either way.
- **Amount**: the price of the renewal plan, the version the subscriber bought (or scheduled
  with a plan change), never the plan's newest price: a subscriber keeps the terms they bought.
- **Retries**: a charge unanswered or refused is asked again every `retry_every` (1 day), at
  most `max_attempts` (3) times for one period end and only until grace ends; the count starts
  again with each period. A charge is identified by the period end it renews and its attempt
  number (the payment reference), so a duplicate or late answer is recognised
  (renew / fail_renewal below refuse `RENEWAL_NOT_CURRENT`: a second success for a period
  already renewed is a double charge for the service to park and pay back).
- **Grace**: a renewal failure (or a period ending with the renewal unpaid) starts grace for
  `DEFAULT_GRACE` (3 days) from the failure or the period end, whichever is later: a failure
  reported before the end never shortens the time paid for. The benefits and the multiplier
  stay; a renewal paid in grace starts at the old end, so the grace days belong to the new
  term; grace over, the subscription expires. A renewal whose charge was requested before a
  cancel is still applied when paid (the money was taken); the cancel stands for the next one.
  Its failure changes nothing: the member no longer wanted it, and the period runs to its end.
- **Not charged**: a frozen member (`MEMBER_FROZEN`: the period then ends unpaid, goes to grace,
  and a retry in grace charges them once unfrozen), auto-renew off (`AUTO_RENEW_OFF`), a
  subscription that never renews (`NOT_RENEWABLE`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

from services.kit.refusals import Refusal

from .lifecycle import (
    MemberAction,
    MemberStatus,
    Operation,
    State,
    member_refusal,
    refusal,
    transition,
)
from .plans import Plan, add_period
from .subscriptions import Subscription
from .terms import Channel, build_term

DEFAULT_GRACE = dt.timedelta(days=3)
# An order unpaid this long is abandoned; longer than any payment confirmation takes, so a
# payment is never confirmed for an order already given up.
DEFAULT_PAYMENT_WINDOW = dt.timedelta(days=1)


@dataclass(frozen=True)
class RenewalPolicy:
    lead: dt.timedelta = dt.timedelta(days=1)
    grace: dt.timedelta = DEFAULT_GRACE
    retry_every: dt.timedelta = dt.timedelta(days=1)
    max_attempts: int = 3

    def __post_init__(self) -> None:
        if self.lead < dt.timedelta(0) or self.grace <= dt.timedelta(0):
            raise ValueError("the lead is not negative and grace is positive")
        if self.retry_every <= dt.timedelta(0) or self.max_attempts < 1:
            raise ValueError("retries are spaced and at least one attempt is made")


@dataclass(frozen=True)
class Charge:
    """A renewal charge to request: `amount_minor` of `currency` for the term of `plan` from
    `renews_end` to `new_end`, attempt `attempt` (1, 2, …)."""

    plan: Plan
    amount_minor: int
    currency: str
    renews_end: dt.datetime
    new_end: dt.datetime
    attempt: int


def due_at(sub: Subscription, policy: RenewalPolicy) -> dt.datetime | None:
    """When the next charge request for `sub` is due (None: not while it is in this state).
    The first: `lead` before the period end; the next: `retry_every` after the last; in grace
    without any attempt yet (the period ended unpaid): at once."""
    end = sub.period_end
    if sub.state not in (State.ACTIVE, State.GRACE) or end is None:
        return None
    if sub.last_attempt_at is not None:
        return sub.last_attempt_at + policy.retry_every
    if sub.state is State.ACTIVE:
        return end - policy.lead
    return end  # grace entered at the period end without any charge: at once


def charge(
    sub: Subscription,
    member: MemberStatus,
    now: dt.datetime,
    zone: str,
    policy: RenewalPolicy | None = None,
) -> Charge | Refusal:
    """The charge the renewal job requests now for `sub`, or why none."""
    policy = policy or RenewalPolicy()
    problem = member_refusal(member, MemberAction.RENEW) or refusal(
        sub.state, Operation.REQUEST_RENEWAL
    )
    if problem:
        return problem
    plan, end = sub.renewal_plan, sub.period_end
    if plan is None or end is None:
        return Refusal("NOT_RENEWABLE", "the subscription does not renew")
    if not sub.auto_renew:
        return Refusal("AUTO_RENEW_OFF", "auto-renew is off")
    if sub.attempts >= policy.max_attempts:
        return Refusal(
            "RENEWAL_ATTEMPTS_EXHAUSTED",
            f"{sub.attempts} charges were requested for this period",
            metadata={"attempts": str(sub.attempts)},
        )
    if sub.state is State.GRACE and sub.grace_until is not None and now >= sub.grace_until:
        return Refusal("SUBSCRIPTION_ENDED", "grace is over")
    due = due_at(sub, policy)
    if due is not None and now < due:
        return Refusal("RENEWAL_NOT_DUE", "not yet", metadata={"due_at": due.isoformat()})
    new_end = add_period(end, plan.period, zone, sub.anchor_day)
    return Charge(plan, plan.price_minor, plan.currency, end, new_end, sub.attempts + 1)


def record_attempt(sub: Subscription, now: dt.datetime) -> Subscription:
    """The charge was requested: counted before the request leaves, so that two job runs (two
    replicas) never both ask (the store makes this a conditional update on `attempts`)."""
    return replace(sub, attempts=sub.attempts + 1, last_attempt_at=now)


# --- the answer to a charge, and the clock --------------------------------------------------
def _not_current(sub: Subscription, renews_end: dt.datetime) -> Refusal | None:
    """A charge result names the period end it renews; one for another end (a duplicate, or a
    late answer to an earlier period) changes nothing."""
    if renews_end == sub.period_end:
        return None
    return Refusal("RENEWAL_NOT_CURRENT", "the charge was for another period")


def renew(
    sub: Subscription, renews_end: dt.datetime, now: dt.datetime, zone: str
) -> Subscription | Refusal:
    """The renewal charge succeeded: a term of the renewal plan from the old end, at its price."""
    after = transition(sub.state, Operation.RENEW)
    if isinstance(after, Refusal):
        return after
    problem = _not_current(sub, renews_end)
    if problem:
        return problem
    plan = sub.renewal_plan
    if plan is None:
        return Refusal("NOT_RENEWABLE", "the subscription does not renew")
    term, anchor = build_term(
        plan, renews_end, zone, sub.anchor_day, plan.price_minor, now, Channel.RENEWAL
    )
    return replace(
        sub,
        state=after,
        terms=(*sub.terms, term),
        anchor_day=anchor,
        grace_until=None,
        attempts=0,
        last_attempt_at=None,
    )


def fail_renewal(
    sub: Subscription,
    renews_end: dt.datetime,
    now: dt.datetime,
    grace: dt.timedelta = DEFAULT_GRACE,
) -> Subscription | Refusal:
    """The renewal charge failed: grace from the failure or the period end, whichever is later.
    A retry failing in grace changes nothing (grace does not restart), nor does the failure of
    a charge the member cancelled after it was requested."""
    after = transition(sub.state, Operation.FAIL_RENEWAL)
    if isinstance(after, Refusal):
        return after
    problem = _not_current(sub, renews_end)
    if problem:
        return problem
    if sub.state is State.GRACE or not sub.auto_renew:
        return sub
    return replace(sub, state=after, grace_until=max(now, renews_end) + grace)


def on_clock(
    sub: Subscription,
    now: dt.datetime,
    grace: dt.timedelta = DEFAULT_GRACE,
    payment_window: dt.timedelta = DEFAULT_PAYMENT_WINDOW,
) -> Subscription | None:
    """What time alone does (the expiry job), or None when nothing is due:
    an order unpaid past its window is abandoned; a period ending with auto-renew on and the
    renewal unpaid goes to grace (a frozen member, a charge never answered); one without
    auto-renew expires at its end; grace expires at its end. The instants recorded are those
    the rules name, not the job's, so a late job changes no date."""
    if sub.state is State.PENDING_PAYMENT and now >= sub.ordered_at + payment_window:
        return replace(sub, state=State.CANCELLED, ended_at=sub.ordered_at + payment_window)
    end = sub.period_end
    if sub.state is State.ACTIVE and end is not None and now >= end:
        if sub.auto_renew and sub.renewal_plan is not None and now < end + grace:
            return replace(sub, state=State.GRACE, grace_until=end + grace)
        ended = end + grace if sub.auto_renew and sub.renewal_plan is not None else end
        return replace(sub, state=State.EXPIRED, ended_at=ended, auto_renew=False)
    if sub.state is State.GRACE and sub.grace_until is not None and now >= sub.grace_until:
        return replace(sub, state=State.EXPIRED, ended_at=sub.grace_until, auto_renew=False)
    return None
