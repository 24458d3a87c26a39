"""What storefront events may carry, which payments points can apply, and the rebate's bounds."""

from __future__ import annotations

import json
import uuid

import pytest

from services.points.domain import commerce, rebates, rules, subscription
from services.points.domain.commerce import (
    Cancellation,
    Completion,
    NamedHold,
    ParkReason,
    Payment,
    Refund,
    RefundRefusal,
    Review,
)
from services.points.domain.rebates import RebateNote

MEMBER, OTHER, HOLD = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()


def payment(**fields) -> Payment:
    values = {
        "order_id": "o-1",
        "member_id": MEMBER,
        "merchant_id": "m",
        "currency_code": "CNY",
        "paid_amount_minor": 10_000,
        "points_hold_id": None,
        "points_used": 0,
        **fields,
    }
    return Payment(**values)


def fields_of(problems) -> list[str]:
    return [field for field, _ in problems]


def test_a_payment_within_bounds_has_no_problem():
    assert commerce.payment_problems(payment(), 50, 100) == []
    biggest = payment(paid_amount_minor=10**12, points_used=10**9)
    assert commerce.payment_problems(biggest, 50, 100) == []


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"paid_amount_minor": 2**63 - 1}, "paid_amount_minor"),
        ({"paid_amount_minor": -1}, "paid_amount_minor"),
        ({"points_used": -1}, "points_used"),
        ({"points_used": 10**9 + 1}, "points_used"),
        ({"currency_code": "CN"}, "currency_code"),
        ({"currency_code": ""}, "currency_code"),
    ],
)
def test_a_payment_out_of_bounds_names_its_field(fields, field):
    assert fields_of(commerce.payment_problems(payment(**fields), 50, 100)) == [field]


def test_the_points_used_are_worth_at_most_the_share_of_the_order_before_the_deduction():
    # 100 points per CNY, 50%: what was paid must be at least what the points are worth.
    assert commerce.deduction_fits(5_000, 5_000, 50, 100)  # 50 CNY of points, 50 CNY paid
    assert not commerce.deduction_fits(5_001, 5_000, 50, 100)
    assert commerce.deduction_fits(0, 0, 50, 100)
    assert not commerce.deduction_fits(1, 0, 50, 100)
    # 30%, 200 points per CNY: 30 CNY of points (6,000) on 70 CNY paid is 30% of 100 CNY.
    assert commerce.deduction_fits(6_000, 7_000, 30, 200)
    assert not commerce.deduction_fits(6_002, 7_000, 30, 200)
    problems = commerce.payment_problems(payment(paid_amount_minor=100, points_used=101), 50, 100)
    assert fields_of(problems) == ["points_used"]


def test_a_refund_out_of_bounds_names_its_field():
    refund = Refund("o", MEMBER, "r", 2**63 - 1, -1, "usd1")
    assert fields_of(commerce.refund_problems(refund)) == [
        "refunded_amount_minor",
        "points_to_return",
        "currency_code",
    ]
    assert commerce.refund_problems(Refund("o", MEMBER, "r", 10**12, 10**9)) == []


def test_refunds_total_at_most_what_was_paid_in_the_orders_currency():
    assert commerce.refund_against_order("", 4_000, "CNY", 10_000, 6_000) is None
    over = commerce.refund_against_order("CNY", 4_001, "CNY", 10_000, 6_000)
    assert over is not None and over.reason is RefundRefusal.EXCEEDS_PAYMENT
    assert over.description == "more than was paid: 4000 of 10000 left to refund"
    other = commerce.refund_against_order("USD", 1, "CNY", 10_000, 0)
    assert other is not None and other.reason is RefundRefusal.OTHER_CURRENCY


@pytest.mark.parametrize(("value", "ok"), [(0, True), (1, True), (100, True), (101, False)])
def test_a_multiplier_is_0_to_100(value, ok):
    assert (commerce.multiplier_problem(value) is None) is ok
    assert commerce.multiplier_problem(-1) is not None


def test_the_multiplier_and_the_rebate_are_bounded_whatever_was_kept():
    assert subscription.multiplier([("active", 2**31 - 1)], 10) == 100
    assert subscription.multiplier([("active", 0)], 1_000) == 100  # the setting too
    rule = rules.EarningRule(rule_code="purchase_rebate", kind="purchase_rebate", points=10**9)
    assert rules.rebate_points(rule, 10**12, 100) == rules.MAX_POINTS


@pytest.mark.parametrize(
    ("hold", "fields", "reason"),
    [
        (None, {"points_hold_id": HOLD, "points_used": 100}, ParkReason.HOLD_NOT_FOUND),
        (NamedHold(OTHER, "o-1", 100), {"points_used": 100}, ParkReason.HOLD_OF_ANOTHER_MEMBER),
        (NamedHold(MEMBER, "o-2", 100), {"points_used": 100}, ParkReason.HOLD_OF_ANOTHER_ORDER),
        (NamedHold(MEMBER, "o-1", 100), {"points_used": 99}, ParkReason.HOLD_AMOUNT_MISMATCH),
        (None, {"points_hold_id": None, "points_used": 1}, ParkReason.HOLD_MISSING),
        (None, {"points_hold_id": None, "currency_code": "USD"}, ParkReason.CURRENCY_NOT_EARNING),
    ],
)
def test_a_payment_that_does_not_fit_says_why(hold, fields, reason):
    values = {"points_hold_id": HOLD, **fields}
    unfit = commerce.payment_unfit(payment(**values), hold)
    assert unfit is not None and unfit.reason is reason and unfit.detail


def test_a_payment_that_fits():
    assert commerce.payment_unfit(payment(), None) is None
    fitting = payment(points_hold_id=HOLD, points_used=100)
    assert commerce.payment_unfit(fitting, NamedHold(MEMBER, "o-1", 100)) is None


@pytest.mark.parametrize(
    "command",
    [
        payment(points_hold_id=HOLD, points_used=5),
        payment(),
        Refund("o", MEMBER, "r", 1, 2, "CNY"),
        Completion("o", MEMBER),
        Cancellation("o", MEMBER),
        Review("rv", MEMBER, "", True),
    ],
)
def test_a_command_survives_its_json(command):
    kind = commerce.kind_of(command)
    assert commerce.decode(kind, json.loads(json.dumps(commerce.encode(command)))) == command


@pytest.mark.parametrize(
    ("points", "room", "expected"),
    [
        (0, None, (0, RebateNote.BELOW_ONE_UNIT)),
        (100, None, (100, RebateNote.FULL)),
        (100, 100, (100, RebateNote.FULL)),
        (100, 40, (40, RebateNote.CUT_TO_CAP)),
        (100, 0, (0, RebateNote.CAP_REACHED)),
        (10**9, None, (10**9, RebateNote.AT_MAXIMUM)),
    ],
)
def test_what_the_caps_leave_of_a_rebate_and_why(points, room, expected):
    assert rebates.after_caps(points, room, 10**9) == expected
