"""Holds on cards for an order, and how an order refund goes back to the cards it came from."""

from __future__ import annotations

import datetime as dt

import pytest

from services.giftcard.domain import holds
from services.giftcard.domain.holds import Capture, HoldState, OnPayment, Part, ReleaseReason
from services.giftcard.domain.refusals import FieldProblem, Refusal
from services.giftcard.domain.states import CardState

NOW = dt.datetime(2025, 6, 1, 12, tzinfo=dt.UTC)
LATER = NOW + dt.timedelta(minutes=30)
VALID = NOW + dt.timedelta(days=365)


def test_holds_expire_after_30_minutes_by_default():
    assert holds.hold_expiry(NOW) == LATER
    assert holds.hold_expiry(NOW, 60) == NOW + dt.timedelta(minutes=1)


def test_an_active_card_within_validity_holds_part_or_all_of_its_balance():
    assert holds.card_hold_refusal(CardState.ACTIVE, VALID, NOW, 10_000, 1) is None
    assert holds.card_hold_refusal(CardState.ACTIVE, VALID, NOW, 10_000, 10_000) is None


@pytest.mark.parametrize(
    ("state", "valid_until", "available", "amount", "reason"),
    [
        (CardState.ACTIVE, VALID, 10_000, 0, "AMOUNT_NOT_POSITIVE"),
        (CardState.ACTIVE, VALID, 10_000, -1, "AMOUNT_NOT_POSITIVE"),
        (CardState.ACTIVE, VALID, 10_000, 10**12 + 1, "AMOUNT_TOO_LARGE"),
        (CardState.ACTIVE, VALID, 10_000, 10_001, "INSUFFICIENT_BALANCE"),
        (CardState.ACTIVE, NOW, 10_000, 1, "CARD_EXPIRED"),  # the job has not run yet
        (CardState.READY, None, 10_000, 1, "CARD_NOT_ACTIVE"),
        (CardState.FROZEN, VALID, 10_000, 1, "CARD_FROZEN"),
        (CardState.LOST, VALID, 10_000, 1, "CARD_REPORTED_LOST"),
        (CardState.EXPIRED, VALID, 0, 1, "CARD_EXPIRED"),
        (CardState.REPLACED, VALID, 0, 1, "CARD_CLOSED"),
    ],
)
def test_holds_refused(state, valid_until, available, amount, reason):
    result = holds.card_hold_refusal(state, valid_until, NOW, available, amount)
    assert result is not None and result.reason == reason


def test_insufficient_balance_tells_what_is_available():
    refusal = holds.card_hold_refusal(CardState.ACTIVE, VALID, NOW, 700, 701)
    assert refusal.metadata == {"available_minor": "700"}


def test_capture_release_and_payment_moves():
    assert holds.capture(HoldState.HELD, LATER, NOW) is HoldState.CAPTURED
    assert holds.capture(HoldState.HELD, NOW, NOW).reason == "HOLD_EXPIRED"
    assert holds.capture(HoldState.HELD, NOW, LATER, on_time_only=False) is HoldState.CAPTURED
    for state, reason in [
        (HoldState.CAPTURED, "HOLD_ALREADY_CAPTURED"),
        (HoldState.RELEASED, "HOLD_RELEASED"),
        (HoldState.EXPIRED, "HOLD_EXPIRED"),
    ]:
        assert holds.capture(state, LATER, NOW).reason == reason
        assert holds.capture(state, LATER, NOW, on_time_only=False).reason == reason
    assert holds.release(HoldState.HELD, ReleaseReason.REQUESTED) is HoldState.RELEASED
    assert holds.release(HoldState.HELD, ReleaseReason.ORDER_CANCELLED) is HoldState.RELEASED
    assert holds.release(HoldState.HELD, ReleaseReason.TIMED_OUT) is HoldState.EXPIRED
    assert holds.release(HoldState.CAPTURED, ReleaseReason.REQUESTED).reason == "HOLD_CAPTURED"
    for state in (HoldState.RELEASED, HoldState.EXPIRED):
        assert holds.release(state, ReleaseReason.REQUESTED) is None
    assert holds.release(HoldState.CAPTURED, ReleaseReason.ORDER_CANCELLED) is None
    assert holds.on_payment(HoldState.HELD) is OnPayment.CAPTURE
    assert holds.on_payment(HoldState.CAPTURED) is OnPayment.NOTHING
    assert holds.on_payment(HoldState.RELEASED) is OnPayment.CAPTURE_LAPSED
    assert holds.on_payment(HoldState.EXPIRED) is OnPayment.CAPTURE_LAPSED


def test_a_lapsed_hold_is_taken_again_only_if_the_card_still_has_it():
    assert holds.lapsed_capture_refusal(500, 500) is None
    refusal = holds.lapsed_capture_refusal(499, 500)
    assert refusal.reason == "HOLD_LAPSED_SHORT" and refusal.metadata == {"available_minor": "499"}


def test_plan_payment_fills_the_cards_in_the_order_given():
    cards = [Part("a", 3_000), Part("b", 0), Part("c", 5_000), Part("d", 9_000)]
    assert holds.plan_payment(cards, 7_000) == [Part("a", 3_000), Part("c", 4_000)]
    short = holds.plan_payment(cards, 17_001)
    assert isinstance(short, Refusal) and short.reason == "INSUFFICIENT_BALANCE"
    assert short.metadata == {"available_minor": "17000"}
    assert isinstance(holds.plan_payment(cards, 0), FieldProblem)


ORDER = [Capture("a", 3_000, 0, 0), Capture("b", 5_000, 0, 1), Capture("c", 2_000, 0, 2)]


def test_a_refund_goes_back_latest_capture_first():
    assert holds.allocate_refund(ORDER, 1_500) == [Part("c", 1_500)]
    assert holds.allocate_refund(ORDER, 6_000) == [Part("c", 2_000), Part("b", 4_000)]


def test_a_full_refund_gives_each_card_exactly_what_it_gave():
    parts = holds.allocate_refund(ORDER, 10_000)
    assert parts == [Part("c", 2_000), Part("b", 5_000), Part("a", 3_000)]
    assert sum(p.amount for p in parts) == 10_000


def test_the_order_is_the_capture_sequence_not_the_list_or_the_card():
    shuffled = [ORDER[2], ORDER[0], ORDER[1]]
    assert holds.allocate_refund(shuffled, 6_000) == holds.allocate_refund(ORDER, 6_000)


def test_earlier_refunds_are_counted_never_more_to_a_card_than_it_gave():
    partly = [
        Capture("a", 3_000, 0, 0),
        Capture("b", 5_000, 4_000, 1),
        Capture("c", 2_000, 2_000, 2),
    ]
    assert holds.refundable(partly) == 4_000
    assert holds.allocate_refund(partly, 4_000) == [Part("b", 1_000), Part("a", 3_000)]


def test_a_refund_above_what_remains_is_refused_whole():
    partly = [Capture("a", 3_000, 2_500, 0), Capture("b", 5_000, 5_000, 1)]
    refusal = holds.allocate_refund(partly, 501)
    assert isinstance(refusal, Refusal) and refusal.reason == "REFUND_EXCEEDS_CAPTURED"
    assert refusal.metadata == {"refundable_minor": "500"}
    assert holds.allocate_refund([], 1).reason == "REFUND_EXCEEDS_CAPTURED"


@pytest.mark.parametrize("amount", [0, -100])
def test_a_refund_of_nothing_is_a_bad_amount(amount):
    assert holds.allocate_refund(ORDER, amount).reason == "AMOUNT_NOT_POSITIVE"


def test_captures_with_the_same_place_in_the_order_are_a_bug():
    with pytest.raises(ValueError):
        holds.allocate_refund([Capture("a", 1, 0, 0), Capture("b", 1, 0, 0)], 1)


def test_several_partial_refunds_sum_to_the_order_exactly():
    captures = list(ORDER)
    for amount in (1, 1_999, 2_500, 3_000, 2_500):
        for part in holds.allocate_refund(captures, amount):
            captures = [
                Capture(c.source, c.amount, c.returned + part.amount, c.sequence)
                if c.source == part.source
                else c
                for c in captures
            ]
    assert all(c.returned == c.amount for c in captures)
    assert holds.refundable(captures) == 0
