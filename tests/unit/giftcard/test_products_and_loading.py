"""Products, a batch's face value, loading (开户/充值) and the validity a sale starts."""

from __future__ import annotations

import datetime as dt

import pytest

from services.giftcard.domain import products
from services.giftcard.domain.products import Product
from services.giftcard.domain.refusals import FieldProblem
from services.giftcard.domain.states import CardState

FACE = 50_000  # 500.00 CNY
FIXED = Product("p500", FACE)
CUSTOM = Product("bulk", None)


def test_a_fixed_product_gives_its_denomination():
    assert products.batch_face_value(FIXED, None) == FACE
    assert products.batch_face_value(FIXED, FACE) == FACE
    problem = products.batch_face_value(FIXED, FACE + 1)
    assert isinstance(problem, FieldProblem) and problem.reason == "FACE_VALUE_FIXED"


def test_a_custom_product_takes_the_batch_amount():
    assert products.batch_face_value(CUSTOM, 123_456) == 123_456
    assert products.batch_face_value(CUSTOM, None).reason == "FACE_VALUE_REQUIRED"
    assert products.batch_face_value(CUSTOM, 0).reason == "AMOUNT_NOT_POSITIVE"
    assert products.batch_face_value(CUSTOM, -5).reason == "AMOUNT_NOT_POSITIVE"


def test_product_problems():
    assert products.product_problems(FIXED) == []
    assert products.product_problems(Product("x", None, 120, frozenset({"mall", "online"}))) == []
    bad = Product("x", 0, 0, frozenset({"Mall!"}))
    assert [p.field for p in products.product_problems(bad)] == [
        "face_value_minor",
        "validity_months",
        "channels",
    ]


def test_loading_the_face_value_onto_an_issued_card_of_the_batch():
    assert products.load_refusal("b1", "b1", CardState.ISSUED, FACE, FACE) is None


@pytest.mark.parametrize(
    ("card_batch", "state", "amount", "reason"),
    [
        ("b2", CardState.ISSUED, FACE, "CARD_NOT_IN_BATCH"),
        ("b1", CardState.LOADED, FACE, "CARD_ALREADY_LOADED"),
        ("b1", CardState.ACTIVE, FACE, "CARD_ALREADY_LOADED"),
        ("b1", CardState.VOIDED, FACE, "CARD_CLOSED"),
        ("b1", CardState.ISSUED, FACE - 1, "LOAD_AMOUNT_MISMATCH"),
        ("b1", CardState.ISSUED, FACE + 1, "LOAD_AMOUNT_MISMATCH"),
    ],
)
def test_loading_is_refused_outside_the_batch_twice_or_with_another_amount(
    card_batch, state, amount, reason
):
    refusal = products.load_refusal(card_batch, "b1", state, amount, FACE)
    assert refusal.reason == reason


def test_a_wrong_amount_names_the_right_one():
    refusal = products.load_refusal("b1", "b1", CardState.ISSUED, 1, FACE)
    assert refusal.metadata == {"expected_minor": str(FACE)}


def test_channels():
    assert products.channel_refusal(FIXED, "anything") is None
    limited = Product("x", FACE, channels=frozenset({"mall"}))
    assert products.channel_refusal(limited, "mall") is None
    assert products.channel_refusal(limited, "online").reason == "CHANNEL_NOT_ALLOWED"


@pytest.mark.parametrize(
    ("sold_at", "months", "until"),
    [
        # 10:00 in Shanghai on 1 June 2025 → valid through 1 June 2028 (Shanghai).
        (dt.datetime(2025, 6, 1, 2, tzinfo=dt.UTC), 36, dt.datetime(2028, 6, 1, 16, tzinfo=dt.UTC)),
        # 01:00 on 2 March in Shanghai is still 1 March in UTC: the business day counts.
        (
            dt.datetime(2025, 3, 1, 17, tzinfo=dt.UTC),
            12,
            dt.datetime(2026, 3, 2, 16, tzinfo=dt.UTC),
        ),
        # 29 Feb + 12 months clamps to 28 Feb.
        (
            dt.datetime(2024, 2, 29, 4, tzinfo=dt.UTC),
            12,
            dt.datetime(2025, 2, 28, 16, tzinfo=dt.UTC),
        ),
    ],
)
def test_validity_runs_to_the_end_of_the_business_day(sold_at, months, until):
    assert products.valid_until(sold_at, months, "Asia/Shanghai") == until


def test_the_default_validity_is_three_years():
    assert FIXED.validity_months == 36
