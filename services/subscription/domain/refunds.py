"""The refund formula, and the credit a plan change now carries over.

Only *open* terms are refunded: the current term and the ones stacked after it (`terms.py`). A
term already over was consumed and is never paid back. For each open term t, paid p_t, running
from s_t to e_t, at the instant `now`:

    elapsed_t = clamp(now − s_t, 0, e_t − s_t)                       (microseconds)
    unused_t  = p_t − ⌊p_t × elapsed_t ÷ (e_t − s_t)⌋
    share_t   = p_t        if no benefit was used and now < paid_at_t + cooling-off (7 days)
              = unused_t   otherwise
    refund    = min(Σ p_t, max(0, Σ share_t − Σ value of the benefits used))

Rounding: the *used* part is rounded down, so the fraction of a fen goes to the member (as
points and giftcard round). Time is counted to the microsecond, not in days: no day-boundary
rule to explain, and the same instant always gives the same amount. A benefit counts as used
when it was claimed during the open terms (from the first open term's start); its value is
the plan's data (`Benefit.value_minor`), so a refund is worked out from records alone. Any use,
even of a benefit worth 0, ends the right to a full refund: "if no benefit was used".

The result is never negative and never more than was paid for the open terms. A refund ends
the subscription (`refunded`), so a second one is refused by the state machine; a refund that
would pay nothing is refused (`NOTHING_TO_REFUND`) and leaves the subscription running.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from services.kit.refusals import Refusal

from .terms import Term, open_terms

DEFAULT_COOLING_OFF = dt.timedelta(days=7)
_MICROSECOND = dt.timedelta(microseconds=1)


class RefundBasis(StrEnum):
    FULL = "full"  # every open term within its cooling-off, nothing used
    PRO_RATA = "pro_rata"


@dataclass(frozen=True)
class BenefitUse:
    benefit_id: str
    value_minor: int
    used_at: dt.datetime


@dataclass(frozen=True)
class RefundQuote:
    amount_minor: int
    basis: RefundBasis
    paid_minor: int  # paid for the open terms: the most a refund can be
    share_minor: int  # Σ share_t, before benefits are deducted
    used_value_minor: int


def _micros(delta: dt.timedelta) -> int:
    return delta // _MICROSECOND


def used_part(term: Term, now: dt.datetime) -> int:
    """The part of the term's payment its elapsed time consumed, rounded down."""
    length = _micros(term.end - term.start)
    elapsed = min(max(_micros(now - term.start), 0), length)
    return term.paid_minor * elapsed // length


def unused_value(term: Term, now: dt.datetime) -> int:
    return term.paid_minor - used_part(term, now)


def uses_in(
    terms: Sequence[Term], uses: Sequence[BenefitUse], now: dt.datetime
) -> list[BenefitUse]:
    """The uses a refund at `now` deducts: those made during the open terms."""
    current = open_terms(terms, now)
    if not current:
        return []
    return [u for u in uses if u.used_at >= current[0].start]


def quote(
    terms: Sequence[Term],
    uses: Sequence[BenefitUse],
    now: dt.datetime,
    cooling_off: dt.timedelta = DEFAULT_COOLING_OFF,
) -> RefundQuote:
    """What a refund at `now` pays (see the module doc for the formula)."""
    current = open_terms(terms, now)
    counted = uses_in(terms, uses, now)
    if any(u.value_minor < 0 for u in counted):
        raise ValueError("a benefit's value is not negative")
    used_value = sum(u.value_minor for u in counted)
    paid = sum(t.paid_minor for t in current)
    shares = [
        t.paid_minor if not counted and now < t.paid_at + cooling_off else unused_value(t, now)
        for t in current
    ]
    full = bool(current) and all(
        share == t.paid_minor for share, t in zip(shares, current, strict=True)
    )
    amount = min(paid, max(0, sum(shares) - used_value))
    basis = RefundBasis.FULL if full and not counted else RefundBasis.PRO_RATA
    return RefundQuote(amount, basis, paid, sum(shares), used_value)


def nothing_to_refund(q: RefundQuote) -> Refusal | None:
    if q.amount_minor > 0:
        return None
    return Refusal(
        "NOTHING_TO_REFUND",
        "nothing is left to refund: nothing was paid, the time is used up, or the benefits "
        "used are worth more than the time left",
        metadata={
            "paid_minor": str(q.paid_minor),
            "used_value_minor": str(q.used_value_minor),
        },
    )


def change_credit(terms: Sequence[Term], now: dt.datetime) -> int:
    """The credit a plan change now carries over: the unused value of the open terms. No
    cooling-off and no deduction of benefits: the member keeps subscribing, and the time
    consumed is kept in the cut term (`terms.cut_at`)."""
    return sum(unused_value(t, now) for t in open_terms(terms, now))
