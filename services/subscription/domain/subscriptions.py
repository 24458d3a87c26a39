"""A subscription as a value, and what each operation makes of it.

Every operation asks the state machine (lifecycle.py) first, then the facts (the clock, the
plan, the member), and returns a new `Subscription` or the `Refusal` that says why not; nothing
is changed in place. Time is passed in as `now`; the business zone as `zone`.

Rules beyond the state table, each with its reason:

- One live subscription per member. Buying while active or in grace *extends* it (a term after
  the last: stacking); buying while the first order awaits payment is refused
  (`SUBSCRIPTION_PENDING_PAYMENT`); a trial is for a member with no live subscription
  (`SUBSCRIPTION_ALREADY_ACTIVE`) who never had one (`TRIAL_ALREADY_USED`).
- A paid purchase turns auto-renew on with its plan as what renewals charge; a trial, a code or a
  gift never renews by itself (`NOT_RENEWABLE` to cancel or resume it) until a paid purchase
  stacks on it.
- A purchase in grace settles the failed renewal: active again, its term from the old end.
- Cancel and resume work until the benefits end (`SUBSCRIPTION_ENDED` from then on, even
  before the expiry job has run).
- Refund and closing: refunds.py has the formula.

Renewals, grace and what the clock does are in renewal.py; plan changes in changes.py.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum

from services.kit.refusals import Refusal

from . import refunds
from .lifecycle import (
    LIVE,
    MULTIPLYING,
    MemberAction,
    MemberStatus,
    Operation,
    State,
    member_refusal,
    transition,
)
from .plans import Plan
from .refunds import DEFAULT_COOLING_OFF, BenefitUse, RefundQuote
from .terms import PAID_CHANNELS, Channel, Term, build_term, term_at


@dataclass(frozen=True)
class Subscription:
    member_id: str
    state: State
    order_plan: Plan  # the plan of the first order (the terms say what was bought since)
    ordered_at: dt.datetime
    terms: tuple[Term, ...] = field(default_factory=tuple)
    auto_renew: bool = False
    renewal_plan: Plan | None = None  # what the next renewal charges; None: it never renews
    anchor_day: int | None = None  # the cycle's day of month (plans.add_period)
    grace_until: dt.datetime | None = None
    attempts: int = 0  # renewal charges requested for the current period end
    last_attempt_at: dt.datetime | None = None
    ended_at: dt.datetime | None = None
    refunded_minor: int | None = None

    @property
    def period_end(self) -> dt.datetime | None:
        """End of the paid time (exclusive): the last term's end."""
        return self.terms[-1].end if self.terms else None

    @property
    def benefits_end(self) -> dt.datetime | None:
        """When the benefits stop unless something changes: the period end, or in grace the
        grace end; None while pending or ended."""
        if self.state is State.ACTIVE:
            return self.period_end
        if self.state is State.GRACE:
            return self.grace_until
        return None

    @property
    def paid_minor(self) -> int:
        return sum(t.paid_minor for t in self.terms)

    def entitled(self, now: dt.datetime) -> bool:
        """Whether the member has the benefits and the multiplier at `now` (even if the expiry
        job has not yet moved a subscription past its end)."""
        end = self.benefits_end
        return self.state in MULTIPLYING and end is not None and now < end

    def current_term(self, now: dt.datetime) -> Term | None:
        return term_at(self.terms, now)

    def plan_at(self, now: dt.datetime) -> Plan:
        """The plan whose benefits apply at `now`: the current term's, in grace the last's."""
        term = self.current_term(now)
        if term:
            return term.plan
        return self.terms[-1].plan if self.terms else self.order_plan


def _after(sub: Subscription, op: Operation) -> State | Refusal:
    return transition(sub.state, op)


def ended_refusal(now: dt.datetime, end: dt.datetime | None) -> Refusal | None:
    """Past `end` (the benefits' or the paid time's), whether or not the expiry job has run."""
    if end is not None and now < end:
        return None
    return Refusal("SUBSCRIPTION_ENDED", "the subscription's end has passed")


# --- starting --------------------------------------------------------------------------------
class Acquisition(StrEnum):
    NEW = "new"  # a new subscription (pending payment, or active at once when free)
    EXTEND = "extend"  # a term stacked on the live one


def acquisition(
    member: MemberStatus,
    current: Subscription | None,
    plan: Plan,
    channel: Channel,
    *,
    had_trial: bool,
) -> Acquisition | Refusal:
    """What buying (or redeeming, or being given) `plan` does for a member whose latest
    subscription is `current`."""
    if plan.is_trial != (channel is Channel.TRIAL):
        raise ValueError("the trial channel is for trial plans only, and they for it")
    action = MemberAction.REDEEM if channel is Channel.CODE else MemberAction.BUY
    problem = member_refusal(member, action)
    if problem:
        return problem
    live = current is not None and current.state in LIVE
    if plan.is_trial:
        if had_trial:
            return Refusal("TRIAL_ALREADY_USED", "the free trial is once per member")
        if live:
            return Refusal("SUBSCRIPTION_ALREADY_ACTIVE", "a trial is for new subscribers")
        return Acquisition.NEW
    if current is None or not live:
        return Acquisition.NEW
    if current.state is State.PENDING_PAYMENT:
        return Refusal(
            "SUBSCRIPTION_PENDING_PAYMENT", "the open order must be paid or abandoned first"
        )
    return currency_refusal(current, plan) or Acquisition.EXTEND


def currency_refusal(sub: Subscription, plan: Plan) -> Refusal | None:
    """A subscription is paid in one currency: terms in two would make its refund a sum of
    amounts that do not add up."""
    currency = sub.terms[-1].plan.currency if sub.terms else sub.order_plan.currency
    if plan.currency == currency:
        return None
    return Refusal(
        "CURRENCY_MISMATCH",
        f"the subscription is paid in {currency}",
        metadata={"currency": currency},
    )


def new_order(member_id: str, plan: Plan, now: dt.datetime) -> Subscription:
    """A paid plan's first order: pending until its payment is confirmed."""
    if plan.is_trial:
        raise ValueError("a trial is started, not ordered")
    return Subscription(member_id, State.PENDING_PAYMENT, plan, now)


def start_free(
    member_id: str, plan: Plan, channel: Channel, now: dt.datetime, zone: str
) -> Subscription:
    """A trial, a redeemed code or a gift: active at once (即开即享), nothing to pay, no renewal."""
    if channel not in (Channel.TRIAL, Channel.CODE, Channel.GIFT):
        raise ValueError("only free channels start a subscription without payment")
    term, anchor = build_term(plan, now, zone, None, 0, now, channel)
    return Subscription(member_id, State.ACTIVE, plan, now, (term,), anchor_day=anchor)


def payment_refusal(plan: Plan, amount_minor: int, currency: str) -> Refusal | None:
    """A confirmed payment must be the plan's price in its currency (else it is parked)."""
    if (amount_minor, currency) == (plan.price_minor, plan.currency):
        return None
    return Refusal(
        "PAYMENT_MISMATCH",
        f"the order costs {plan.price_minor} {plan.currency}",
        metadata={"expected_minor": str(plan.price_minor), "currency": plan.currency},
    )


def activate(
    sub: Subscription, amount_minor: int, currency: str, now: dt.datetime, zone: str
) -> Subscription | Refusal:
    """The first order's payment is confirmed: the first term starts now."""
    after = _after(sub, Operation.CONFIRM_PAYMENT)
    if isinstance(after, Refusal):
        return after
    problem = payment_refusal(sub.order_plan, amount_minor, currency)
    if problem:
        return problem
    plan = sub.order_plan
    term, anchor = build_term(plan, now, zone, None, amount_minor, now, Channel.PURCHASE)
    return replace(
        sub,
        state=after,
        terms=(term,),
        auto_renew=True,
        renewal_plan=plan,
        anchor_day=anchor,
    )


def _end_unpaid(sub: Subscription, op: Operation, now: dt.datetime) -> Subscription | Refusal:
    after = _after(sub, op)
    if isinstance(after, Refusal):
        return after
    return replace(sub, state=after, ended_at=now)


def fail_payment(sub: Subscription, now: dt.datetime) -> Subscription | Refusal:
    """The first payment failed: the order ends (buying again is a new order)."""
    return _end_unpaid(sub, Operation.FAIL_PAYMENT, now)


def abandon(sub: Subscription, now: dt.datetime) -> Subscription | Refusal:
    return _end_unpaid(sub, Operation.ABANDON, now)


def extend(
    sub: Subscription,
    plan: Plan,
    channel: Channel,
    paid_minor: int,
    now: dt.datetime,
    zone: str,
) -> Subscription | Refusal:
    """A purchase (paid), code or gift while live: a term of `plan` after the last (stacking).
    In grace it settles the failed renewal: active again, from the old end."""
    after = _after(sub, Operation.EXTEND)
    if isinstance(after, Refusal):
        return after
    if channel in (Channel.TRIAL, Channel.RENEWAL, Channel.PLAN_CHANGE):
        raise ValueError(f"a {channel.value} term is not added by extend")
    problem = currency_refusal(sub, plan)
    if problem:
        return problem
    start = sub.terms[-1].end
    term, anchor = build_term(plan, start, zone, sub.anchor_day, paid_minor, now, channel)
    paid = channel in PAID_CHANNELS
    return replace(
        sub,
        state=after,
        terms=(*sub.terms, term),
        anchor_day=anchor,
        grace_until=None,
        attempts=0,
        last_attempt_at=None,
        auto_renew=True if paid else sub.auto_renew,
        renewal_plan=plan if paid else sub.renewal_plan,
    )


# --- the member's choices ----------------------------------------------------------------------
def _auto_renew(
    sub: Subscription, op: Operation, on: bool, now: dt.datetime
) -> Subscription | Refusal:
    after = _after(sub, op)
    if isinstance(after, Refusal):
        return after
    if sub.renewal_plan is None:
        return Refusal("NOT_RENEWABLE", "a trial, code or gift never renews: buy a plan")
    if sub.auto_renew == on:
        reason = "AUTO_RENEW_ALREADY_ON" if on else "AUTO_RENEW_ALREADY_OFF"
        return Refusal(reason, f"auto-renew is already {'on' if on else 'off'}")
    return ended_refusal(now, sub.benefits_end) or replace(sub, auto_renew=on)


def cancel(sub: Subscription, now: dt.datetime) -> Subscription | Refusal:
    """Auto-renew off: the subscription runs to `benefits_end`, then expires."""
    return _auto_renew(sub, Operation.CANCEL, False, now)


def resume(sub: Subscription, now: dt.datetime) -> Subscription | Refusal:
    """Auto-renew on again, before the end."""
    return _auto_renew(sub, Operation.RESUME, True, now)


# --- the end -----------------------------------------------------------------------------------
def refund(
    sub: Subscription,
    uses: Sequence[BenefitUse],
    now: dt.datetime,
    cooling_off: dt.timedelta = DEFAULT_COOLING_OFF,
) -> tuple[Subscription, RefundQuote] | Refusal:
    """Refund (refunds.py has the formula) and end the subscription; refused twice."""
    after = _after(sub, Operation.REFUND)
    if isinstance(after, Refusal):
        return after
    q = refunds.quote(sub.terms, uses, now, cooling_off)
    problem = refunds.nothing_to_refund(q)
    if problem:
        return problem
    ended = replace(sub, state=after, ended_at=now, refunded_minor=q.amount_minor, auto_renew=False)
    return ended, q


def close(
    sub: Subscription,
    uses: Sequence[BenefitUse],
    now: dt.datetime,
    cooling_off: dt.timedelta = DEFAULT_COOLING_OFF,
) -> tuple[Subscription, int] | Refusal:
    """The member was closed: the subscription is cancelled now with the refund the formula
    gives (possibly 0; nothing for an order never paid)."""
    after = _after(sub, Operation.CLOSE)
    if isinstance(after, Refusal):
        return after
    amount = 0
    if sub.state is not State.PENDING_PAYMENT:
        amount = refunds.quote(sub.terms, uses, now, cooling_off).amount_minor
    ended = replace(sub, state=after, ended_at=now, refunded_minor=amount, auto_renew=False)
    return ended, amount
