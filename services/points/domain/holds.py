"""Checkout holds: the states of a hold and the moves between them.

held → captured (spent) | released (given back) | expired (timed out). Only a held hold moves;
the other states are final, except that an order's payment still captures a hold that lapsed
before it arrived (the member had the discount).
"""

from __future__ import annotations

import datetime as dt
from enum import Enum, StrEnum

from .refusals import Refusal


class HoldState(StrEnum):
    """A hold's state; the values are the holds.state column's."""

    HELD = "held"
    CAPTURED = "captured"
    RELEASED = "released"
    EXPIRED = "expired"


class ReleaseReason(StrEnum):
    """Why held points go back; the values are the journal's reason of the release."""

    REQUESTED = "released"
    TIMED_OUT = "expired"
    ORDER_CANCELLED = "order_cancelled"


class OnPayment(Enum):
    """What an order's payment does with the hold it names."""

    CAPTURE = "capture"  # held: the held points are spent
    CAPTURE_LAPSED = "capture_lapsed"  # released or expired meanwhile: taken from available
    NOTHING = "nothing"  # captured already


_NOT_CAPTURABLE = {
    HoldState.CAPTURED: Refusal("HOLD_ALREADY_CAPTURED", "the hold was captured"),
    HoldState.RELEASED: Refusal("HOLD_RELEASED", "the hold was released"),
    HoldState.EXPIRED: Refusal("HOLD_EXPIRED", "the hold expired"),
}


def capture(
    state: HoldState, expires_at: dt.datetime, now: dt.datetime, *, on_time_only: bool = True
) -> HoldState | Refusal:
    """held → captured. A caller (`on_time_only`) may not capture a hold past its expiry even
    before the timeout job expired it; an order's payment may."""
    if state is not HoldState.HELD:
        return _NOT_CAPTURABLE[state]
    if on_time_only and expires_at <= now:
        return _NOT_CAPTURABLE[HoldState.EXPIRED]
    return HoldState.CAPTURED


def release(state: HoldState, why: ReleaseReason) -> HoldState | Refusal | None:
    """held → released, or expired when it timed out. A hold no longer held stays as it is
    (None), except that a caller asking to release a captured hold is refused."""
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
