"""What the storefront's events ask of points, as plain data, and the bounds they must keep.
Growth's gift packs (domain.growth) wait for their member as these do, so they are commands too.

Every amount, multiplier and points figure taken from an event is range-checked before anything
is applied: an event outside these bounds breaks the contract and is dead-lettered with its
reason. Within them no sum points computes comes near a bigint (2^63 − 1).

A command is kept as JSON while it waits (parked_events.command): `encode` / `decode`.
"""

from __future__ import annotations

import dataclasses
import re
import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from .growth import GiftPack
from .rules import MAX_POINTS
from .spending import MINOR_PER_UNIT
from .subscription import MAX_MULTIPLIER

MAX_AMOUNT_MINOR = 10**12  # one order, line, refund or payment: 10 billion CNY, in fen
MAX_REBATE = MAX_POINTS  # one order's rebate, whatever the amount, rule and multiplier
CURRENCY_CODE = re.compile(r"^[A-Z]{3}$")
EARNING_CURRENCY = "CNY"  # the only currency purchase rebates are earned in


# --- commands ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Payment:
    """order.paid"""

    order_id: str
    member_id: uuid.UUID
    merchant_id: str
    currency_code: str
    paid_amount_minor: int
    points_hold_id: uuid.UUID | None
    points_used: int


@dataclass(frozen=True)
class Refund:
    """order.refunded (currency_code "" means the order's)"""

    order_id: str
    member_id: uuid.UUID
    refund_id: str
    refunded_amount_minor: int
    points_to_return: int
    currency_code: str = ""


@dataclass(frozen=True)
class Completion:
    """order.completed"""

    order_id: str
    member_id: uuid.UUID


@dataclass(frozen=True)
class Cancellation:
    """order.cancelled"""

    order_id: str
    member_id: uuid.UUID


@dataclass(frozen=True)
class Review:
    """review.posted (order_id "" when the review names none)"""

    review_id: str
    member_id: uuid.UUID
    order_id: str
    with_photos: bool


Command = Payment | Refund | Completion | Cancellation | Review | GiftPack

KINDS: dict[str, type[Command]] = {
    "order.paid": Payment,
    "order.refunded": Refund,
    "order.completed": Completion,
    "order.cancelled": Cancellation,
    "review.posted": Review,
    "growth.gift_pack_granted": GiftPack,
}
_KIND_OF = {cls: kind for kind, cls in KINDS.items()}
_UUIDS = ("member_id", "points_hold_id")


def kind_of(command: Command) -> str:
    return _KIND_OF[type(command)]


def encode(command: Command) -> dict[str, Any]:
    """The command as JSON values (ids as strings)."""
    data = dataclasses.asdict(command)
    for name in _UUIDS:
        if data.get(name) is not None:
            data[name] = str(data[name])
    return data


def decode(kind: str, data: dict[str, Any]) -> Command:
    """The command `encode` gave for a command of this kind."""
    values = dict(data)
    for name in _UUIDS:
        if values.get(name) is not None:
            values[name] = uuid.UUID(values[name])
    return KINDS[kind](**values)


# --- bounds --------------------------------------------------------------------------------
Problems = list[tuple[str, str]]


def amount_problem(value: int, maximum: int = MAX_AMOUNT_MINOR) -> str | None:
    """Why an amount (fen, points) taken from an event is out of bounds, if it is."""
    if value < 0:
        return "must not be negative"
    if value > maximum:
        return f"at most {maximum}"
    return None


def check_amount(found: Problems, field: str, value: int, maximum: int = MAX_AMOUNT_MINOR) -> None:
    problem = amount_problem(value, maximum)
    if problem:
        found.append((field, problem))


def currency_problem(code: str, *, required: bool = True) -> str | None:
    if not code and not required:
        return None
    if not CURRENCY_CODE.match(code):
        return "must be an ISO 4217 code (3 letters)"
    return None


def deduction_fits(
    points_used: int, paid_minor: int, share_percent: int, points_per_unit: int
) -> bool:
    """Whether the points deducted are worth at most the share of the order amount before the
    deduction (what was paid plus their value), as ReserveHold allowed them:

    points × 100 / ppu ≤ (paid + points × 100 / ppu) × share / 100, in integers (× ppu × 100).
    """
    value = points_used * MINOR_PER_UNIT
    return value * 100 <= (paid_minor * points_per_unit + value) * share_percent


def payment_problems(p: Payment, share_percent: int, points_per_unit: int) -> Problems:
    """What in an order.paid is out of bounds (field paths of OrderPaid)."""
    found: Problems = []
    check_amount(found, "paid_amount_minor", p.paid_amount_minor)
    check_amount(found, "points_used", p.points_used, MAX_POINTS)
    problem = currency_problem(p.currency_code)
    if problem:
        found.append(("currency_code", problem))
    if not found and not deduction_fits(
        p.points_used, p.paid_amount_minor, share_percent, points_per_unit
    ):
        found.append(
            (
                "points_used",
                f"worth more than {share_percent}% of the order amount before the deduction",
            )
        )
    return found


def refund_problems(r: Refund) -> Problems:
    """What in an order.refunded is out of bounds by itself (the order is checked later)."""
    found: Problems = []
    check_amount(found, "refunded_amount_minor", r.refunded_amount_minor)
    check_amount(found, "points_to_return", r.points_to_return, MAX_POINTS)
    problem = currency_problem(r.currency_code, required=False)
    if problem:
        found.append(("currency_code", problem))
    return found


class RefundRefusal(StrEnum):
    """Why a refund cannot apply to its paid order (metric labels, GetOrder reasons)."""

    EXCEEDS_PAYMENT = "REFUND_EXCEEDS_PAYMENT"
    OTHER_CURRENCY = "REFUND_IN_ANOTHER_CURRENCY"


@dataclass(frozen=True)
class RefundProblem:
    reason: RefundRefusal
    field: str
    description: str


def refund_against_order(
    refund_currency: str,
    refund_minor: int,
    order_currency: str,
    paid_minor: int,
    refunded_minor: int,
) -> RefundProblem | None:
    """Why a refund of `refund_minor` cannot apply to the paid order (`refunded_minor` of its
    `paid_minor` refunded so far): the refunds would total more money than was paid, or it is
    in another currency ("" is the order's)."""
    if refund_currency and refund_currency != order_currency:
        return RefundProblem(
            RefundRefusal.OTHER_CURRENCY, "currency_code", f"the order was paid in {order_currency}"
        )
    if refunded_minor + refund_minor > paid_minor:
        left = max(0, paid_minor - refunded_minor)
        return RefundProblem(
            RefundRefusal.EXCEEDS_PAYMENT,
            "refunded_amount_minor",
            f"more than was paid: {left} of {paid_minor} left to refund",
        )
    return None


class RefundState(StrEnum):
    WAITING_FOR_PAYMENT = "waiting_for_payment"
    APPLIED = "applied"
    REFUSED = "refused"


def refund_state(applied: bool, refused_reason: str) -> RefundState:
    if applied:
        return RefundState.APPLIED
    return RefundState.REFUSED if refused_reason else RefundState.WAITING_FOR_PAYMENT


def multiplier_problem(multiplier: int) -> str | None:
    if not 0 <= multiplier <= MAX_MULTIPLIER:
        return f"0 (the default) to {MAX_MULTIPLIER}"
    return None


# --- payments points cannot apply -------------------------------------------------------------
class ParkReason(StrEnum):
    """Why an event is parked instead of applied (metric labels and GetOrder reasons)."""

    MEMBER_UNKNOWN = "MEMBER_UNKNOWN"
    HOLD_NOT_FOUND = "HOLD_NOT_FOUND"
    HOLD_OF_ANOTHER_MEMBER = "HOLD_OF_ANOTHER_MEMBER"
    HOLD_OF_ANOTHER_ORDER = "HOLD_OF_ANOTHER_ORDER"
    HOLD_AMOUNT_MISMATCH = "HOLD_AMOUNT_MISMATCH"
    HOLD_MISSING = "HOLD_MISSING"
    CURRENCY_NOT_EARNING = "CURRENCY_NOT_EARNING"


class ParkedState(StrEnum):
    """A parked event's state; the values are the parked_events.state column's."""

    WAITING = "waiting"  # for member.registered, until its wait ends
    HELD = "held"  # for an operator, or a corrected payment of the order
    APPLIED = "applied"  # the member registered: applied
    GIVEN_UP = "given_up"  # the member did not register in time
    REFUSED = "refused"  # the member registered, and applying it was refused
    SUPERSEDED = "superseded"  # another payment of the order was applied


OPEN_STATES = (ParkedState.WAITING, ParkedState.HELD)


@dataclass(frozen=True)
class NamedHold:
    """The hold an order.paid names, as points has it."""

    member_id: uuid.UUID
    order_id: str
    amount: int


@dataclass(frozen=True)
class Unfit:
    """Why a payment cannot be applied as sent."""

    reason: ParkReason
    detail: str


def payment_unfit(p: Payment, hold: NamedHold | None) -> Unfit | None:
    """Whether the payment's hold and currency fit what points knows; if not, why. A payment
    that does not fit is parked: capturing the wrong hold, or none, would charge the wrong
    member or leave the member's discount unpaid."""
    if p.points_hold_id is None:
        if p.points_used > 0:
            return Unfit(
                ParkReason.HOLD_MISSING, f"{p.points_used} points used, but no hold is named"
            )
    elif hold is None:
        return Unfit(ParkReason.HOLD_NOT_FOUND, f"hold {p.points_hold_id} is not known")
    elif hold.member_id != p.member_id:
        return Unfit(ParkReason.HOLD_OF_ANOTHER_MEMBER, "the hold belongs to another member")
    elif hold.order_id != p.order_id:
        return Unfit(ParkReason.HOLD_OF_ANOTHER_ORDER, f"the hold is for order {hold.order_id}")
    elif hold.amount != p.points_used:
        return Unfit(
            ParkReason.HOLD_AMOUNT_MISMATCH,
            f"{p.points_used} points used, but the hold holds {hold.amount}",
        )
    if p.currency_code != EARNING_CURRENCY:
        return Unfit(
            ParkReason.CURRENCY_NOT_EARNING,
            f"points earns on {EARNING_CURRENCY} orders only, not {p.currency_code}",
        )
    return None
