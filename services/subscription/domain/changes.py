"""Changing plan: at the next renewal (what renewals charge changes, nothing else), or now.

A change now is an upgrade: the open terms' unused value (refunds.change_credit, the same
pro-rata arithmetic as a refund, without cooling-off or deductions) is credited against the new
plan's price and the rest charged. The open terms are cut at the change (the part used stays
with them) and a term of the new plan starts then, paid credit + charge, so what the member
paid in total grows by the charge only. Refused:
- a credit above the new price (`PLAN_CHANGE_NOT_UPGRADE`): a downgrade would owe the member
  money back; it is made at the next renewal instead;
- a change over free time (`PLAN_CHANGE_ON_FREE_TERM`): a trial, code or gift has no value to
  credit, and a change now would throw it away; buying the plan stacks it after the free time;
- in grace (`SUBSCRIPTION_IN_GRACE`): a renewal is owed; settle it first;
- the same plan version (`PLAN_UNCHANGED`), a trial (`PLAN_IS_TRIAL`), another currency
  (`CURRENCY_MISMATCH`), after the end (`SUBSCRIPTION_ENDED`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

from services.kit.refusals import Refusal

from . import refunds
from .lifecycle import MemberAction, MemberStatus, Operation, member_refusal, refusal, transition
from .plans import Plan, add_period
from .subscriptions import Subscription, currency_refusal, ended_refusal
from .terms import PAID_CHANNELS, Channel, Term, build_term, cut_at, open_terms


def _change_refusal(
    sub: Subscription, plan: Plan, now: dt.datetime, current: Plan
) -> Refusal | None:
    after = transition(sub.state, Operation.CHANGE_PLAN)
    if isinstance(after, Refusal):
        return after
    if plan.is_trial:
        return Refusal("PLAN_IS_TRIAL", "a trial is not a plan to change to")
    if plan.same_version(current):
        return Refusal("PLAN_UNCHANGED", "that is the plan already")
    return currency_refusal(sub, plan) or ended_refusal(now, sub.period_end)


def schedule_change(sub: Subscription, plan: Plan, now: dt.datetime) -> Subscription | Refusal:
    """Change plan at the next renewal: renewals charge `plan` from then on. Nothing is paid
    or credited now; auto-renew stays as it is."""
    current = sub.renewal_plan
    if current is None:
        return refusal(sub.state, Operation.CHANGE_PLAN) or Refusal(
            "NOT_RENEWABLE", "a trial, code or gift never renews: buy a plan"
        )
    return _change_refusal(sub, plan, now, current) or replace(sub, renewal_plan=plan)


@dataclass(frozen=True)
class ChangeQuote:
    plan: Plan
    credit_minor: int  # unused value of the open terms
    charge_minor: int  # the new plan's price less the credit
    start: dt.datetime
    end: dt.datetime


def quote_change(
    sub: Subscription, plan: Plan, member: MemberStatus, now: dt.datetime, zone: str
) -> ChangeQuote | Refusal:
    """Change plan now: what it credits and charges. A change now is a purchase (a frozen
    member may not). The new term starts when the charge is confirmed (change_now), and the
    credit is worked out again then."""
    return member_refusal(member, MemberAction.BUY) or _quote(sub, plan, now, zone)


def _quote(sub: Subscription, plan: Plan, now: dt.datetime, zone: str) -> ChangeQuote | Refusal:
    problem = _change_refusal(sub, plan, now, sub.plan_at(now))
    if problem:
        return problem
    if any(t.channel not in PAID_CHANNELS for t in open_terms(sub.terms, now)):
        return Refusal(
            "PLAN_CHANGE_ON_FREE_TERM",
            "free time (trial, code, gift) has no value to credit: buy the plan to follow it",
        )
    credit = refunds.change_credit(sub.terms, now)
    if credit > plan.price_minor:
        return Refusal(
            "PLAN_CHANGE_NOT_UPGRADE",
            "the credit left is more than the new plan costs: change at the next renewal",
            metadata={"credit_minor": str(credit), "price_minor": str(plan.price_minor)},
        )
    end = add_period(now, plan.period, zone)
    return ChangeQuote(plan, credit, plan.price_minor - credit, now, end)


def change_now(
    sub: Subscription, plan: Plan, charge_paid_minor: int, now: dt.datetime, zone: str
) -> Subscription | Refusal:
    """The change's charge is confirmed: the open terms are cut at `now` (the part used stays
    with them, the rest is credit) and a term of `plan` starts, paid credit + charge. What the
    member paid in total is unchanged but for the charge."""
    if charge_paid_minor < 0:
        raise ValueError("a charge is not negative")
    # Not the member's status: the charge was taken, so the change is owed even if the member
    # was frozen meanwhile.
    quoted = _quote(sub, plan, now, zone)
    if isinstance(quoted, Refusal):
        return quoted
    kept: list[Term] = []
    for term in sub.terms:
        if term.end <= now:
            kept.append(term)
        elif term.start < now:
            kept.append(cut_at(term, now, refunds.used_part(term, now)))
    paid = quoted.credit_minor + charge_paid_minor
    term, anchor = build_term(plan, now, zone, None, paid, now, Channel.PLAN_CHANGE)
    # A new period end: the renewal charges counted were for the old one (as a stacked term's).
    return replace(
        sub,
        terms=(*kept, term),
        anchor_day=anchor,
        renewal_plan=plan,
        attempts=0,
        last_attempt_at=None,
    )
