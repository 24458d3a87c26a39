"""The rebate state machine: none → pending → available | cancelled, and refund reversals."""

from __future__ import annotations

import pytest

from services.points.domain import rebates
from services.points.domain.rebates import RebateState, Reversal


def test_only_a_pending_rebate_is_confirmed_when_the_order_completes():
    assert rebates.on_completion(RebateState.PENDING) is RebateState.AVAILABLE
    for state in (RebateState.NONE, RebateState.AVAILABLE, RebateState.CANCELLED):
        assert rebates.on_completion(state) is None


def test_only_a_pending_rebate_is_cancelled_with_its_order():
    assert rebates.on_cancellation(RebateState.PENDING) is RebateState.CANCELLED
    for state in (RebateState.NONE, RebateState.AVAILABLE, RebateState.CANCELLED):
        assert rebates.on_cancellation(state) is None


def test_outstanding_is_what_refunds_left():
    assert rebates.outstanding(500, 120) == 380


@pytest.mark.parametrize(
    ("state", "how"),
    [(RebateState.PENDING, Reversal.CANCEL_PENDING), (RebateState.AVAILABLE, Reversal.CLAWBACK)],
)
def test_a_refund_reverses_in_proportion_of_the_cumulative_refund(state, how):
    # 500 points for 50,000 paid: 10,000 refunded reverses 100; another 10,000 another 100.
    assert rebates.on_refund(state, 500, 0, 50_000, 10_000) == (how, 100)
    assert rebates.on_refund(state, 500, 100, 50_000, 20_000) == (how, 100)
    # A full refund reverses what is left, whatever rounding did before.
    assert rebates.on_refund(state, 333, 110, 1_000, 1_000) == (how, 223)


def test_a_refund_reverses_nothing_more_than_the_target():
    assert rebates.on_refund(RebateState.PENDING, 500, 100, 50_000, 10_000) == (None, 0)


@pytest.mark.parametrize("state", [RebateState.NONE, RebateState.CANCELLED])
def test_a_rebate_never_credited_or_cancelled_is_not_reversed(state):
    assert rebates.on_refund(state, 500, 0, 50_000, 50_000) == (None, 0)
