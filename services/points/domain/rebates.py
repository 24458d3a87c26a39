"""Purchase rebates: credited pending on payment, available on completion, cancelled with
the order; refunds reverse them in proportion (pending points cancelled, available ones
clawed back)."""

from __future__ import annotations

from enum import Enum, StrEnum

from .spending import reversal_target


class RebateState(StrEnum):
    """An order's rebate; the values are the orders.rebate_state column's."""

    NONE = "none"  # nothing credited (not paid yet, nothing earned, or the member not active)
    PENDING = "pending"
    AVAILABLE = "available"
    CANCELLED = "cancelled"


class RebateNote(StrEnum):
    """Why an order's rebate is less than paid × rule points × multiplier, or none (the values
    are the orders.rebate_note column's; "" when it is the full amount)."""

    FULL = ""
    MEMBER_NOT_ACTIVE = "MEMBER_NOT_ACTIVE"  # frozen or closed when the payment arrived
    RULE_DISABLED = "RULE_DISABLED"  # no purchase_rebate rule in effect, or disabled
    BELOW_ONE_UNIT = "BELOW_ONE_UNIT"  # less than one whole CNY paid
    CAP_REACHED = "CAP_REACHED"  # the rule's cap left nothing
    CUT_TO_CAP = "CUT_TO_CAP"  # the rule's cap left part of it
    AT_MAXIMUM = "AT_MAXIMUM"  # cut to the most one credit moves (10^9 points)


class Reversal(Enum):
    """How a refund takes back part of the rebate."""

    CANCEL_PENDING = "cancel_pending"
    CLAWBACK = "clawback"


def outstanding(points: int, reversed_points: int) -> int:
    """What is left of a rebate after the refunds so far."""
    return points - reversed_points


def on_completion(state: RebateState) -> RebateState | None:
    """pending → available (the order completed); any other state stays."""
    return RebateState.AVAILABLE if state is RebateState.PENDING else None


def on_cancellation(state: RebateState) -> RebateState | None:
    """pending → cancelled (the order was cancelled); any other state stays."""
    return RebateState.CANCELLED if state is RebateState.PENDING else None


def on_refund(
    state: RebateState,
    points: int,
    reversed_points: int,
    paid_minor: int,
    refunded_minor: int,
) -> tuple[Reversal | None, int]:
    """How much more of the rebate to reverse once `refunded_minor` (cumulative) of
    `paid_minor` is refunded, and how. A rebate never credited or cancelled reverses nothing."""
    more = max(0, reversal_target(points, paid_minor, refunded_minor) - reversed_points)
    if more and state is RebateState.PENDING:
        return Reversal.CANCEL_PENDING, more
    if more and state is RebateState.AVAILABLE:
        return Reversal.CLAWBACK, more
    return None, 0


def after_caps(points: int, room: int | None, maximum: int) -> tuple[int, RebateNote]:
    """The rebate credited of `points` (what the rule and the multiplier give, at most
    `maximum`) with `room` left under the rule's caps (None: no cap), and why it is short."""
    if points <= 0:
        return 0, RebateNote.BELOW_ONE_UNIT
    if room is not None and room < points:
        return (room, RebateNote.CUT_TO_CAP) if room > 0 else (0, RebateNote.CAP_REACHED)
    return points, RebateNote.AT_MAXIMUM if points >= maximum else RebateNote.FULL
