"""After-sale rules: refund a card (退卡), exchange it (调换), replace it (补磁/换卡), cancel a
defective one (注销/废卡), freeze, report lost (挂失), expiry with its breakage, and validity
extension. State moves come from `states`; these add what the state alone does not say.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from dataclasses import dataclass
from enum import Enum

from .approvals import ApprovalStatus
from .refusals import FieldProblem, Refusal
from .states import CardOperation, CardState, card_refusal

REASON_MAX = 256
# How far one extension may push a card's expiry: a bound on what one operator can grant
# without a new sale.
MAX_EXTENSION = dt.timedelta(days=366)


@dataclass(frozen=True)
class CardFacts:
    """What the after-sale rules look at."""

    state: CardState
    available: int
    held: int
    consumed: bool  # any capture ever: a consumption record, even if refunded since
    valid_until: dt.datetime | None  # None until sold


def reason_problem(reason: str, field: str = "reason") -> FieldProblem | None:
    """Every operator action on a card says why (the audit trail keeps it)."""
    if not reason.strip():
        return FieldProblem(field, "a reason is required", "REASON_REQUIRED")
    if len(reason) > REASON_MAX:
        return FieldProblem(field, f"at most {REASON_MAX} characters")
    if any(unicodedata.category(c) == "Cc" for c in reason):
        return FieldProblem(field, "no control characters")
    return None


def _past_validity(card: CardFacts, now: dt.datetime) -> Refusal | None:
    if card.valid_until is not None and card.valid_until <= now:
        return Refusal("CARD_EXPIRED", "the card is past its validity")
    return None


def _holds(card: CardFacts) -> Refusal | None:
    if card.held:
        return Refusal(
            "CARD_HAS_HOLDS",
            "the card has value held for an order; it settles within the hold's time",
            metadata={"held_minor": str(card.held)},
        )
    return None


def _returned_whole(
    card: CardFacts, op: CardOperation, approval: ApprovalStatus, now: dt.datetime
) -> int | Refusal:
    refusal = card_refusal(card.state, op) or _past_validity(card, now) or _holds(card)
    if refusal:
        return refusal
    if card.consumed:
        return Refusal("CARD_HAS_CONSUMPTION", "a card that has been used is not taken back")
    if not approval.complete:
        return Refusal(
            "APPROVAL_MISSING",
            "a manager must approve this",
            metadata={"missing": ",".join(sorted(approval.missing))},
        )
    return card.available


def refund_card(card: CardFacts, approval: ApprovalStatus, now: dt.datetime) -> int | Refusal:
    """退卡: an unused card is taken back and its whole value paid back (the amount)."""
    return _returned_whole(card, CardOperation.REFUND_CARD, approval, now)


def exchange(card: CardFacts, approval: ApprovalStatus, now: dt.datetime) -> int | Refusal:
    """调换: an unused card is taken back against other cards; the amount is its value, which
    leaves this card (the new cards are sold as any other)."""
    return _returned_whole(card, CardOperation.EXCHANGE, approval, now)


@dataclass(frozen=True)
class Replacement:
    amount: int  # moves from the old card to the new one
    valid_until: dt.datetime | None  # the new card's: the old one's, never longer


def replace(
    old: CardFacts, new_state: CardState, now: dt.datetime, *, same_card: bool = False
) -> Replacement | Refusal:
    """补磁/换卡, or the end of a loss report: the whole balance moves to a blank card (one
    generated and exported, never loaded), the old card is replaced. Replacing never extends
    validity."""
    if same_card:
        return Refusal("SAME_CARD", "a card is not replaced by itself")
    refusal = (
        card_refusal(old.state, CardOperation.REPLACE)
        or _past_validity(old, now)
        or _holds(old)
        or card_refusal(new_state, CardOperation.RECEIVE_REPLACEMENT)
    )
    if refusal:
        return refusal
    return Replacement(old.available, old.valid_until)


def cancel_defective(state: CardState, reason: str) -> CardState | Refusal | FieldProblem:
    """注销/废卡 of a stock card. A loaded stock card's value is written off with it (its own
    line in the reconciliation); a sold card is replaced instead."""
    problem = reason_problem(reason)
    if problem:
        return problem
    return card_refusal(state, CardOperation.CANCEL) or CardState.CANCELLED


def expiry_due(state: CardState, valid_until: dt.datetime | None, now: dt.datetime) -> bool:
    """Whether the expiry job should expire the card now."""
    return (
        card_refusal(state, CardOperation.EXPIRE) is None
        and valid_until is not None
        and valid_until <= now
    )


def expire(card: CardFacts, now: dt.datetime) -> int | Refusal:
    """The breakage: what is left on a card past its validity. A card with a held hold waits
    for the hold to settle (at most the hold's time), so breakage is counted once and final."""
    refusal = card_refusal(card.state, CardOperation.EXPIRE)
    if refusal:
        return refusal
    if card.valid_until is None or card.valid_until > now:
        return Refusal("CARD_NOT_DUE", "the card is within its validity")
    return _holds(card) or card.available


def extend_validity(
    card: CardFacts,
    new_until: dt.datetime,
    now: dt.datetime,
    max_extension: dt.timedelta = MAX_EXTENSION,
) -> Refusal | FieldProblem | None:
    """An operator may push a live card's expiry later, by at most `max_extension`."""
    refusal = card_refusal(card.state, CardOperation.EXTEND_VALIDITY) or _past_validity(card, now)
    if refusal:
        return refusal
    current = card.valid_until
    if current is None:
        raise ValueError("a sold card has a validity")
    if new_until <= current:
        return FieldProblem(
            "valid_until", "must be later than the current expiry", "EXPIRY_NOT_LATER"
        )
    if new_until - current > max_extension:
        return FieldProblem(
            "valid_until",
            f"at most {max_extension.days} days beyond the current expiry",
            "EXTENSION_TOO_LONG",
        )
    return None


class RefundDestination(Enum):
    """Where an order refund's part for a card goes, given the card's state now."""

    CARD = "card"  # back onto the card
    REPLACEMENT = "replacement"  # the card was replaced: onto the card that took its balance
    BREAKAGE = "breakage"  # the card expired: back onto it and straight into breakage


def refund_destination(state: CardState) -> RefundDestination:
    if state in (CardState.ACTIVE, CardState.FROZEN, CardState.LOST):
        return RefundDestination.CARD
    if state is CardState.REPLACED:
        return RefundDestination.REPLACEMENT
    if state is CardState.EXPIRED:
        return RefundDestination.BREAKAGE
    # Refunded, exchanged, cancelled, voided and stock cards never paid for an order.
    raise ValueError(f"a {state} card paid for no order")
