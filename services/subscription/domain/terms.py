"""Terms: the stretches of paid (or granted) time a subscription is made of.

A subscription's terms are contiguous and in order: each starts where the previous ends.
Activation adds the first; a renewal, a purchase while active (stacking), a redeemed code or a
gift adds one after the last; a plan change now cuts the open terms at that instant and adds
one of the new plan. Each term remembers its plan version and what was paid for it, which is
all the refund formula and the renewal charge need.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from .plans import Plan, add_period, anchor_after


class Channel(StrEnum):
    """How a term was obtained. The values are the terms.channel column's."""

    PURCHASE = "purchase"  # paid directly (the first order or a stacking one)
    RENEWAL = "renewal"  # charged by the renewal job
    TRIAL = "trial"  # the free trial
    CODE = "code"  # a redemption code (兑换码): paid by a partner, free to the member
    GIFT = "gift"  # granted by an operator
    PLAN_CHANGE = "plan_change"  # a change of plan now: credit of the cut terms + the charge


# Channels whose terms the member paid for, and that set what the next renewal charges.
PAID_CHANNELS = frozenset({Channel.PURCHASE, Channel.RENEWAL, Channel.PLAN_CHANGE})


@dataclass(frozen=True)
class Term:
    plan: Plan
    start: dt.datetime
    end: dt.datetime  # exclusive
    paid_minor: int  # what the member paid for this time (0 for a trial, code or gift)
    paid_at: dt.datetime  # when that payment was confirmed (the cooling-off runs from it)
    channel: Channel

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError("a term ends after it starts")
        if self.paid_minor < 0:
            raise ValueError("a term's payment is not negative")


def build_term(
    plan: Plan,
    start: dt.datetime,
    zone: str,
    anchor_day: int | None,
    paid_minor: int,
    paid_at: dt.datetime,
    channel: Channel,
) -> tuple[Term, int | None]:
    """The term of `plan` starting at `start`, and the cycle's anchor day after it."""
    end = add_period(start, plan.period, zone, anchor_day)
    anchor = anchor_after(start, plan.period, zone, anchor_day)
    return Term(plan, start, end, paid_minor, paid_at, channel), anchor


def contiguous(terms: Sequence[Term]) -> bool:
    return all(a.end == b.start for a, b in zip(terms, terms[1:], strict=False))


def term_at(terms: Sequence[Term], at: dt.datetime) -> Term | None:
    """The term `at` falls in, or None before the first and from the last's end on."""
    return next((t for t in terms if t.start <= at < t.end), None)


def open_terms(terms: Sequence[Term], now: dt.datetime) -> list[Term]:
    """Terms not over yet: the current one and those stacked after it."""
    return [t for t in terms if t.end > now]


def cut_at(term: Term, at: dt.datetime, used_minor: int) -> Term:
    """`term` ended early at `at`, keeping `used_minor` of its payment (the rest moved on as
    credit)."""
    return Term(term.plan, term.start, at, used_minor, term.paid_at, term.channel)
