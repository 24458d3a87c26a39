"""Refund (退卡), exchange (调换), replace (补磁/换卡), cancel (注销), expiry and extension,
where order refunds go, and cards bound to a member."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from services.giftcard.domain import after_sale, binding
from services.giftcard.domain.after_sale import CardFacts, RefundDestination, Replacement
from services.giftcard.domain.approvals import ApprovalStatus, Role
from services.giftcard.domain.refusals import FieldProblem, Refusal
from services.giftcard.domain.states import CardState

NOW = dt.datetime(2025, 6, 1, 12, tzinfo=dt.UTC)
UNTIL = NOW + dt.timedelta(days=100)
APPROVED = ApprovalStatus(frozenset({Role.MANAGER}), frozenset())
NOT_APPROVED = ApprovalStatus(frozenset({Role.MANAGER}), frozenset({Role.MANAGER}))
FRESH = CardFacts(CardState.ACTIVE, 50_000, 0, False, UNTIL)


def _card(**changes):
    return CardFacts(**{**FRESH.__dict__, **changes})


@pytest.mark.parametrize("operation", [after_sale.refund_card, after_sale.exchange])
def test_an_unused_card_with_approval_is_taken_back_whole(operation):
    assert operation(FRESH, APPROVED, NOW) == 50_000


@pytest.mark.parametrize("operation", [after_sale.refund_card, after_sale.exchange])
@pytest.mark.parametrize(
    ("card", "approval", "reason"),
    [
        (_card(consumed=True), APPROVED, "CARD_HAS_CONSUMPTION"),
        # Even when an order refund put the whole value back: the record stays.
        (_card(consumed=True, available=50_000), APPROVED, "CARD_HAS_CONSUMPTION"),
        (FRESH, NOT_APPROVED, "APPROVAL_MISSING"),
        (_card(held=100, available=49_900), APPROVED, "CARD_HAS_HOLDS"),
        (_card(valid_until=NOW), APPROVED, "CARD_EXPIRED"),
        (_card(state=CardState.FROZEN), APPROVED, "CARD_FROZEN"),
        (_card(state=CardState.LOST), APPROVED, "CARD_REPORTED_LOST"),
        (_card(state=CardState.READY, valid_until=None), APPROVED, "CARD_NOT_ACTIVE"),
        (_card(state=CardState.REFUNDED), APPROVED, "CARD_CLOSED"),
    ],
)
def test_taking_a_card_back_is_refused(operation, card, approval, reason):
    result = operation(card, approval, NOW)
    assert isinstance(result, Refusal) and result.reason == reason


def test_a_missing_approval_names_the_role():
    refusal = after_sale.refund_card(FRESH, NOT_APPROVED, NOW)
    assert refusal.metadata == {"missing": "manager"}


@pytest.mark.parametrize("state", [CardState.ACTIVE, CardState.LOST])
def test_replace_moves_the_whole_balance_and_keeps_the_validity(state):
    old = _card(state=state, available=12_345, consumed=True)
    assert after_sale.replace(old, CardState.ISSUED, NOW) == Replacement(12_345, UNTIL)


@pytest.mark.parametrize(
    ("old", "new_state", "same", "reason"),
    [
        (FRESH, CardState.ISSUED, True, "SAME_CARD"),
        (_card(state=CardState.FROZEN), CardState.ISSUED, False, "CARD_FROZEN"),
        (_card(state=CardState.EXPIRED), CardState.ISSUED, False, "CARD_EXPIRED"),
        (_card(valid_until=NOW), CardState.ISSUED, False, "CARD_EXPIRED"),
        (_card(held=1), CardState.ISSUED, False, "CARD_HAS_HOLDS"),
        (FRESH, CardState.READY, False, "REPLACEMENT_NOT_BLANK"),
        (FRESH, CardState.ACTIVE, False, "REPLACEMENT_NOT_BLANK"),
        (FRESH, CardState.VOIDED, False, "CARD_CLOSED"),
        (_card(state=CardState.REPLACED), CardState.ISSUED, False, "CARD_CLOSED"),
    ],
)
def test_replace_refused(old, new_state, same, reason):
    result = after_sale.replace(old, new_state, NOW, same_card=same)
    assert isinstance(result, Refusal) and result.reason == reason


@pytest.mark.parametrize(
    "state", [CardState.ISSUED, CardState.LOADED, CardState.READY, CardState.REQUISITIONED]
)
def test_defective_stock_is_cancelled_with_a_reason(state):
    assert after_sale.cancel_defective(state, "chip broken") is CardState.CANCELLED


def test_cancel_refused_for_sold_cards_and_without_a_reason():
    assert after_sale.cancel_defective(CardState.ACTIVE, "chip").reason == "CARD_ALREADY_SOLD"
    problem = after_sale.cancel_defective(CardState.READY, "  ")
    assert isinstance(problem, FieldProblem) and problem.reason == "REASON_REQUIRED"


@pytest.mark.parametrize(
    ("reason", "ok"),
    [("damaged", True), ("", False), ("x" * 257, False), ("a\x00b", False), ("损坏" * 128, True)],
)
def test_reasons(reason, ok):
    assert (after_sale.reason_problem(reason) is None) is ok


def test_expiry_reports_the_balance_as_breakage():
    card = _card(valid_until=NOW, available=7_000)
    assert after_sale.expiry_due(card.state, card.valid_until, NOW)
    assert after_sale.expire(card, NOW) == 7_000
    for state in (CardState.FROZEN, CardState.LOST):
        assert after_sale.expire(_card(state=state, valid_until=NOW), NOW) == 50_000


def test_expiry_refused_before_the_date_with_holds_or_for_stock():
    assert not after_sale.expiry_due(CardState.ACTIVE, UNTIL, NOW)
    assert after_sale.expire(FRESH, NOW).reason == "CARD_NOT_DUE"
    assert after_sale.expire(_card(valid_until=NOW, held=5), NOW).reason == "CARD_HAS_HOLDS"
    assert not after_sale.expiry_due(CardState.READY, None, NOW)
    ready = _card(state=CardState.READY, valid_until=None)
    assert after_sale.expire(ready, NOW).reason == "CARD_NOT_ACTIVE"
    assert (
        after_sale.expire(_card(state=CardState.EXPIRED, valid_until=NOW), NOW).reason
        == "CARD_EXPIRED"
    )
    assert not after_sale.expiry_due(CardState.EXPIRED, NOW, NOW)


def test_validity_extension_must_be_later_and_bounded():
    assert after_sale.extend_validity(FRESH, UNTIL + dt.timedelta(days=1), NOW) is None
    assert after_sale.extend_validity(FRESH, UNTIL + after_sale.MAX_EXTENSION, NOW) is None
    same = after_sale.extend_validity(FRESH, UNTIL, NOW)
    assert isinstance(same, FieldProblem) and same.reason == "EXPIRY_NOT_LATER"
    assert (
        after_sale.extend_validity(FRESH, UNTIL - dt.timedelta(days=1), NOW).reason
        == "EXPIRY_NOT_LATER"
    )
    too_long = after_sale.extend_validity(
        FRESH, UNTIL + after_sale.MAX_EXTENSION + dt.timedelta(seconds=1), NOW
    )
    assert too_long.reason == "EXTENSION_TOO_LONG"
    shorter = after_sale.extend_validity(
        FRESH, UNTIL + dt.timedelta(days=31), NOW, dt.timedelta(days=30)
    )
    assert shorter.reason == "EXTENSION_TOO_LONG"


def test_validity_extension_refused_once_expired_or_for_stock():
    late = UNTIL + dt.timedelta(days=1)
    assert after_sale.extend_validity(_card(valid_until=NOW), late, NOW).reason == "CARD_EXPIRED"
    expired = _card(state=CardState.EXPIRED)
    assert after_sale.extend_validity(expired, late, NOW).reason == "CARD_EXPIRED"
    stock = _card(state=CardState.READY, valid_until=None)
    assert after_sale.extend_validity(stock, late, NOW).reason == "CARD_NOT_ACTIVE"
    for state in (CardState.FROZEN, CardState.LOST):
        assert after_sale.extend_validity(_card(state=state), late, NOW) is None


@pytest.mark.parametrize(
    ("state", "destination"),
    [
        (CardState.ACTIVE, RefundDestination.CARD),
        (CardState.FROZEN, RefundDestination.CARD),
        (CardState.LOST, RefundDestination.CARD),
        (CardState.REPLACED, RefundDestination.REPLACEMENT),
        (CardState.EXPIRED, RefundDestination.BREAKAGE),
    ],
)
def test_where_an_order_refund_goes(state, destination):
    assert after_sale.refund_destination(state) is destination


@pytest.mark.parametrize(
    "state", [CardState.READY, CardState.REFUNDED, CardState.CANCELLED, CardState.VOIDED]
)
def test_cards_that_never_paid_have_no_refund_destination(state):
    with pytest.raises(ValueError):
        after_sale.refund_destination(state)


ME, YOU = uuid.uuid4(), uuid.uuid4()


def test_binding_an_active_card():
    assert binding.bind_refusal(CardState.ACTIVE, None, ME) is None
    assert binding.bind_refusal(CardState.ACTIVE, ME, ME) is None  # again: no change
    assert binding.bind_refusal(CardState.ACTIVE, YOU, ME).reason == "CARD_BOUND_TO_ANOTHER_MEMBER"
    assert binding.bind_refusal(CardState.READY, None, ME).reason == "CARD_NOT_ACTIVE"


def test_a_bound_card_is_spent_by_its_member_only():
    assert binding.use_refusal(ME, ME) is None
    assert binding.use_refusal(YOU, ME).reason == "CARD_NOT_BOUND_TO_MEMBER"
    assert binding.use_refusal(None, ME).reason == "CARD_NOT_BOUND_TO_MEMBER"
