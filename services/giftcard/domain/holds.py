"""Checkout holds on cards (and on stored value, which spends like a card), and how an order's
refund goes back to what paid for it.

held → captured | released | expired, as in points: only a held hold moves. An order may be
paid by several sources (cards, the member's stored value), each for part of the amount.

Refunds go back in the reverse of the order the sources were captured in (the order of the
payment event's hold ids): the last source used is the first given back, as a payment undone
step by step. It is the one order a shopper can see and predict (card numbers are random, so
an order by number would look arbitrary), it is fixed once the payment is recorded, so a
redelivered or reordered refund event allocates the same way, and a partial refund fills the
card that topped up the remainder (often the one still in the shopper's hand) before touching
the ones used up first.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum, StrEnum

from .amounts import amount_problem
from .refusals import FieldProblem, Refusal
from .states import CardOperation, CardState, card_refusal

DEFAULT_HOLD_SECONDS = 1800


class HoldState(StrEnum):
    """The values are the holds.state column's."""

    HELD = "held"
    CAPTURED = "captured"
    RELEASED = "released"
    EXPIRED = "expired"


class ReleaseReason(StrEnum):
    REQUESTED = "released"
    TIMED_OUT = "expired"
    ORDER_CANCELLED = "order_cancelled"
    CARD_BLOCKED = "card_blocked"  # the card was frozen or reported lost


class OnPayment(Enum):
    """What an order's payment does with a hold it names."""

    CAPTURE = "capture"  # held: the held value is spent
    CAPTURE_LAPSED = "capture_lapsed"  # released or expired meanwhile: taken again if there
    NOTHING = "nothing"  # captured already (a redelivered payment)


def hold_expiry(now: dt.datetime, seconds: int = DEFAULT_HOLD_SECONDS) -> dt.datetime:
    return now + dt.timedelta(seconds=seconds)


def shortfall(available: int, amount: int) -> Refusal | None:
    return None if available >= amount else insufficient(available, amount)


def insufficient(available: int, amount: int) -> Refusal:
    return Refusal(
        "INSUFFICIENT_BALANCE",
        f"{amount} needed, {available} available",
        metadata={"available_minor": str(available)},
    )


def card_hold_refusal(
    state: CardState,
    valid_until: dt.datetime | None,
    now: dt.datetime,
    available: int,
    amount: int,
) -> Refusal | FieldProblem | None:
    """Whether a card may hold `amount` now: a positive amount, an active card within its
    validity (even before the expiry job has run), enough available."""
    problem = amount_problem(amount)
    if problem:
        return problem
    refusal = card_refusal(state, CardOperation.HOLD)
    if refusal:
        return refusal
    if valid_until is not None and valid_until <= now:
        return Refusal("CARD_EXPIRED", "the card is past its validity")
    return shortfall(available, amount)


_NOT_CAPTURABLE = {
    HoldState.CAPTURED: Refusal("HOLD_ALREADY_CAPTURED", "the hold was captured"),
    HoldState.RELEASED: Refusal("HOLD_RELEASED", "the hold was released"),
    HoldState.EXPIRED: Refusal("HOLD_EXPIRED", "the hold expired"),
}


def capture(
    state: HoldState, expires_at: dt.datetime, now: dt.datetime, *, on_time_only: bool = True
) -> HoldState | Refusal:
    """held → captured. A caller (`on_time_only`) may not capture a hold past its time even
    before the timeout job expired it; an order's payment may (the shopper paid in time)."""
    if state is not HoldState.HELD:
        return _NOT_CAPTURABLE[state]
    if on_time_only and expires_at <= now:
        return _NOT_CAPTURABLE[HoldState.EXPIRED]
    return HoldState.CAPTURED


def release(state: HoldState, why: ReleaseReason) -> HoldState | Refusal | None:
    """held → released (expired when timed out). A hold no longer held stays as it is (None),
    except that a caller asking to release a captured hold is refused."""
    if state is HoldState.CAPTURED and why is ReleaseReason.REQUESTED:
        return Refusal("HOLD_CAPTURED", "the hold was captured")
    if state is not HoldState.HELD:
        return None
    return HoldState.EXPIRED if why is ReleaseReason.TIMED_OUT else HoldState.RELEASED


def on_payment(state: HoldState) -> OnPayment:
    if state is HoldState.HELD:
        return OnPayment.CAPTURE
    if state is HoldState.CAPTURED:
        return OnPayment.NOTHING
    return OnPayment.CAPTURE_LAPSED


def lapsed_capture_refusal(available: int, amount: int) -> Refusal | None:
    """A payment naming a hold that lapsed takes the amount again if the card still has it.
    Unlike points, a card never goes into debt (its value is money paid in advance), so a
    short card leaves the payment to an operator."""
    if available >= amount:
        return None
    return Refusal(
        "HOLD_LAPSED_SHORT",
        "the hold lapsed and the card no longer has the amount",
        metadata={"available_minor": str(available)},
    )


@dataclass(frozen=True)
class Part:
    """An amount taken from, or given back to, one source (a card or a stored-value account)."""

    source: str
    amount: int


def plan_payment(available: Sequence[Part], amount: int) -> list[Part] | Refusal | FieldProblem:
    """Split `amount` over sources in the order the shopper gave them, each up to what it
    has; the storefront may also name the parts itself, one hold each."""
    problem = amount_problem(amount)
    if problem:
        return problem
    parts: list[Part] = []
    left = amount
    for source in available:
        take = min(left, source.amount)
        if take > 0:
            parts.append(Part(source.source, take))
            left -= take
    if left:
        return insufficient(amount - left, amount)
    return parts


@dataclass(frozen=True)
class Capture:
    """What a source gave an order: `amount` captured, `returned` by refunds so far;
    `sequence` is its place in the order's payment (0, 1, … as the holds were named)."""

    source: str
    amount: int
    returned: int
    sequence: int


def refundable(captures: Sequence[Capture]) -> int:
    return sum(c.amount - c.returned for c in captures)


def allocate_refund(
    captures: Sequence[Capture], amount: int
) -> list[Part] | Refusal | FieldProblem:
    """Which sources get `amount` of an order refund back: the reverse of the capture order,
    never more to a source than it gave and has not had back, the parts summing to `amount`.
    More than what remains refundable is refused whole."""
    problem = amount_problem(amount)
    if problem:
        return problem
    if len({c.sequence for c in captures}) != len(captures):
        raise ValueError("captures of an order have distinct sequence numbers")
    room = refundable(captures)
    if amount > room:
        return Refusal(
            "REFUND_EXCEEDS_CAPTURED",
            f"at most {room} of this order can go back to its cards",
            metadata={"refundable_minor": str(room)},
        )
    parts: list[Part] = []
    left = amount
    for c in sorted(captures, key=lambda c: c.sequence, reverse=True):
        take = min(left, c.amount - c.returned)
        if take > 0:
            parts.append(Part(c.source, take))
            left -= take
    return parts
