"""Spending rules: the checkout share a points deduction may cover, refund proportions."""

from __future__ import annotations

from .refusals import FieldProblem, Refusal

MINOR_PER_UNIT = 100  # fen per CNY


def points_value_minor(points: int, points_per_unit: int) -> tuple[int, int]:
    """The value of `points` in minor units, as a fraction (numerator, denominator)."""
    return points * MINOR_PER_UNIT, points_per_unit


def within_share(
    points: int, order_amount_minor: int, share_percent: int, points_per_unit: int
) -> bool:
    """Whether `points` (all holds of the order together) are worth at most the share.

    points × 100 / points_per_unit ≤ order_amount × share / 100, in integers.
    """
    value_num, value_den = points_value_minor(points, points_per_unit)
    return value_num * 100 <= order_amount_minor * share_percent * value_den


def max_points_for(order_amount_minor: int, share_percent: int, points_per_unit: int) -> int:
    """The most points an order of this amount may deduct."""
    return (order_amount_minor * share_percent * points_per_unit) // (100 * MINOR_PER_UNIT)


def hold_share_problem(
    points: int, on_order: int, order_amount_minor: int, share_percent: int, points_per_unit: int
) -> FieldProblem | None:
    """Whether a hold of `points` fits the order's share, with `on_order` points of the order's
    other holds (held or captured) counted in; if not, how many more would."""
    if within_share(points + on_order, order_amount_minor, share_percent, points_per_unit):
        return None
    room = max(0, max_points_for(order_amount_minor, share_percent, points_per_unit) - on_order)
    return FieldProblem(
        "points",
        f"at most {room} more points may be deducted from this order",
        "HOLD_EXCEEDS_ORDER_SHARE",
    )


def shortfall(available: int, amount: int) -> Refusal | None:
    """Spending more than is available is refused, telling what is."""
    if available >= amount:
        return None
    return Refusal(
        "INSUFFICIENT_POINTS",
        f"{amount} points needed, {available} available",
        metadata={"available": str(available)},
    )


def reversal_target(rebate_points: int, paid_minor: int, refunded_minor: int) -> int:
    """Points of the rebate to have reversed once `refunded_minor` of `paid_minor` is refunded.

    Computed on the cumulative refund, so several partial refunds never drift by rounding, and
    a full refund reverses the whole rebate. Rounds down: a fraction of a point stays with the
    member.
    """
    if paid_minor <= 0 or rebate_points <= 0:
        return 0
    refunded = max(0, min(refunded_minor, paid_minor))
    return rebate_points * refunded // paid_minor
