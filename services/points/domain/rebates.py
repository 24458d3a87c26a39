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
