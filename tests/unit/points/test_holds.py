"""The hold state machine: held → captured | released | expired, and what is refused."""

from __future__ import annotations

import datetime as dt

import pytest

from services.points.domain import holds
from services.points.domain.holds import HoldState, OnPayment, ReleaseReason
from services.points.domain.refusals import Refusal

NOW = dt.datetime(2025, 6, 1, 12, 0, tzinfo=dt.UTC)
LATER = NOW + dt.timedelta(minutes=30)


def test_a_held_hold_within_its_time_is_captured():
    assert holds.capture(HoldState.HELD, LATER, NOW) is HoldState.CAPTURED


@pytest.mark.parametrize(
    ("state", "reason"),
    [
        (HoldState.CAPTURED, "HOLD_ALREADY_CAPTURED"),
        (HoldState.RELEASED, "HOLD_RELEASED"),
        (HoldState.EXPIRED, "HOLD_EXPIRED"),
    ],
)
def test_a_settled_hold_is_not_captured_again(state, reason):
    refusal = holds.capture(state, LATER, NOW)
    assert isinstance(refusal, Refusal) and refusal.reason == reason
    assert not refusal.quota  # a state, not a used-up limit
    # An order's payment asks the same of a settled hold (it captures lapsed holds apart).
    assert holds.capture(state, LATER, NOW, on_time_only=False) == refusal


def test_a_caller_may_not_capture_past_the_hold_time_before_the_job_expired_it():
    refusal = holds.capture(HoldState.HELD, NOW, NOW)
    assert isinstance(refusal, Refusal) and refusal.reason == "HOLD_EXPIRED"


def test_an_order_payment_captures_a_held_hold_past_its_time():
    assert holds.capture(HoldState.HELD, NOW, LATER, on_time_only=False) is HoldState.CAPTURED


@pytest.mark.parametrize(
    ("why", "after"),
    [
        (ReleaseReason.REQUESTED, HoldState.RELEASED),
        (ReleaseReason.ORDER_CANCELLED, HoldState.RELEASED),
        (ReleaseReason.TIMED_OUT, HoldState.EXPIRED),
    ],
)
def test_a_held_hold_is_released_or_expires(why, after):
    assert holds.release(HoldState.HELD, why) is after


def test_a_caller_may_not_release_a_captured_hold():
    refusal = holds.release(HoldState.CAPTURED, ReleaseReason.REQUESTED)
    assert isinstance(refusal, Refusal) and refusal.reason == "HOLD_CAPTURED"


@pytest.mark.parametrize("state", [HoldState.RELEASED, HoldState.EXPIRED, HoldState.CAPTURED])
@pytest.mark.parametrize("why", [ReleaseReason.TIMED_OUT, ReleaseReason.ORDER_CANCELLED])
def test_releasing_a_settled_hold_for_the_service_changes_nothing(state, why):
    assert holds.release(state, why) is None


@pytest.mark.parametrize("state", [HoldState.RELEASED, HoldState.EXPIRED])
def test_releasing_a_released_or_expired_hold_on_request_changes_nothing(state):
    assert holds.release(state, ReleaseReason.REQUESTED) is None


@pytest.mark.parametrize(
    ("state", "action"),
    [
        (HoldState.HELD, OnPayment.CAPTURE),
        (HoldState.CAPTURED, OnPayment.NOTHING),
        (HoldState.RELEASED, OnPayment.CAPTURE_LAPSED),
        (HoldState.EXPIRED, OnPayment.CAPTURE_LAPSED),
    ],
)
def test_what_an_order_payment_does_with_its_hold(state, action):
    assert holds.on_payment(state) is action


def test_release_reasons_are_the_journal_reasons():
    assert [r.value for r in ReleaseReason] == ["released", "expired", "order_cancelled"]
