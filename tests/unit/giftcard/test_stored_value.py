"""Member stored value: bonus rules as data, principal before bonus, proportional clawback."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.giftcard.domain import stored_value
from services.giftcard.domain.refusals import FieldProblem, Refusal
from services.giftcard.domain.stored_value import BonusRule, Split, TopUp, TopUpRefund

NOW = dt.datetime(2025, 6, 1, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
RULES = [
    BonusRule("t500", 50_000, 2_000),  # top up 500, get 20
    BonusRule("t1000", 100_000, 5_000),  # top up 1000, get 50
    BonusRule("t2000", 200_000, 12_000),
]


@pytest.mark.parametrize(
    ("amount", "rule", "bonus"),
    [
        (49_999, None, 0),
        (50_000, "t500", 2_000),
        (99_999, "t500", 2_000),
        (100_000, "t1000", 5_000),
        (150_000, "t1000", 5_000),  # one rule per top-up, never a sum
        (1_000_000, "t2000", 12_000),
    ],
)
def test_the_best_applicable_rule_gives_the_bonus(amount, rule, bonus):
    chosen, given_bonus = stored_value.best_bonus(RULES, amount, NOW)
    assert (chosen.rule_id if chosen else None, given_bonus) == (rule, bonus)


def test_rules_apply_within_their_window_only():
    campaign = BonusRule("june", 100_000, 8_000, starts_at=NOW, ends_at=NOW + 30 * DAY)
    rules = [*RULES, campaign]
    assert stored_value.best_bonus(rules, 100_000, NOW - DAY)[1] == 5_000
    assert stored_value.best_bonus(rules, 100_000, NOW)[1] == 8_000
    assert stored_value.best_bonus(rules, 100_000, NOW + 30 * DAY)[1] == 5_000


def test_good_rules_have_no_problems():
    assert stored_value.rule_problems(RULES) == []
    # The same threshold in windows that do not overlap is fine.
    a = BonusRule("may", 100_000, 6_000, ends_at=NOW)
    b = BonusRule("june", 100_000, 8_000, starts_at=NOW)
    assert stored_value.rule_problems([a, b]) == []


@pytest.mark.parametrize(
    ("rules", "problem"),
    [
        ([BonusRule("a", 0, 1)], "positive"),
        ([BonusRule("a", 100, 0)], "positive"),
        ([BonusRule("a", 100, -1)], "positive"),
        ([BonusRule("a", 100, 101)], "at most the threshold"),
        ([BonusRule("", 100, 1)], "needs an id"),
        ([BonusRule("a", 100, 1), BonusRule("a", 200, 5)], "ids must differ"),
        ([BonusRule("a", 100, 5), BonusRule("b", 100, 6)], "same threshold"),
        ([BonusRule("a", 100, 5), BonusRule("b", 200, 5)], "b is never the best"),
        ([BonusRule("a", 100, 1, starts_at=NOW, ends_at=NOW)], "end after it starts"),
    ],
)
def test_bad_rules_are_refused(rules, problem):
    problems = stored_value.rule_problems(rules)
    assert any(problem in p for p in problems), problems


def test_spending_takes_principal_first_then_bonus():
    balance = Split(principal=10_000, bonus=500)
    assert stored_value.split_spend(balance, 4_000) == Split(4_000, 0)
    assert stored_value.split_spend(balance, 10_000) == Split(10_000, 0)
    assert stored_value.split_spend(balance, 10_300) == Split(10_000, 300)
    assert stored_value.split_spend(balance, 10_500) == Split(10_000, 500)
    short = stored_value.split_spend(balance, 10_501)
    assert isinstance(short, Refusal) and short.reason == "INSUFFICIENT_BALANCE"
    assert isinstance(stored_value.split_spend(balance, 0), FieldProblem)


def test_refunding_a_whole_top_up_takes_back_its_whole_bonus():
    top_up = TopUp(principal=100_000, bonus=5_000)
    result = stored_value.refund_top_up(top_up, Split(100_000, 5_000), 100_000)
    assert result == TopUpRefund(100_000, 5_000, 0)
    assert result.cash_out == 100_000 and result.clawback == 5_000


def test_a_partial_refund_takes_back_the_bonus_in_proportion_rounded_down():
    top_up = TopUp(principal=100_000, bonus=5_000)
    # 333.33 of 1000: 5000 × 33333 / 100000 = 1666.65 → 1666 (the fraction stays).
    first = stored_value.refund_top_up(top_up, Split(100_000, 5_000), 33_333)
    assert first == TopUpRefund(33_333, 1_666, 0)
    after = TopUp(100_000, 5_000, refunded=33_333, clawed_back=1_666)
    rest = stored_value.refund_top_up(after, Split(66_667, 3_334), 66_667)
    # On the cumulative amount: the two clawbacks add up to the bonus to the fen.
    assert rest == TopUpRefund(66_667, 3_334, 0)
    assert first.clawback + rest.clawback == 5_000


def test_refunds_fen_by_fen_never_drift():
    top_up = TopUp(principal=300, bonus=7)
    available = Split(300, 7)
    clawed = 0
    for _ in range(300):
        result = stored_value.refund_top_up(top_up, available, 1)
        clawed += result.clawback
        available = Split(available.principal - 1, available.bonus - result.bonus_clawed_back)
        top_up = TopUp(300, 7, top_up.refunded + 1, top_up.clawed_back + result.clawback)
    assert clawed == 7 and available == Split(0, 0)


def test_spent_bonus_is_kept_back_from_the_money_refunded():
    # Bonus spent while principal from another top-up remained: the clawback the bonus balance
    # cannot cover is kept from the cash paid back.
    top_up = TopUp(principal=100_000, bonus=5_000)
    result = stored_value.refund_top_up(top_up, Split(100_000, 1_000), 100_000)
    assert result == TopUpRefund(100_000, 1_000, 4_000)
    assert result.cash_out == 96_000 and result.clawback == 5_000


def test_a_refund_is_bounded_by_the_top_up_and_by_the_principal_left():
    top_up = TopUp(principal=100_000, bonus=5_000, refunded=60_000, clawed_back=3_000)
    over = stored_value.refund_top_up(top_up, Split(100_000, 0), 40_001)
    assert over.reason == "REFUND_EXCEEDS_TOP_UP" and over.metadata == {"refundable_minor": "40000"}
    spent = stored_value.refund_top_up(top_up, Split(30_000, 2_000), 30_001)
    assert spent.reason == "TOP_UP_SPENT" and spent.metadata == {"refundable_minor": "30000"}
    assert (
        stored_value.refund_top_up(top_up, Split(30_000, 2_000), 0).reason == "AMOUNT_NOT_POSITIVE"
    )


def test_a_top_up_whose_bonus_exceeds_it_is_a_bug():
    with pytest.raises(ValueError):
        stored_value.refund_top_up(TopUp(100, 101), Split(100, 101), 1)


def test_an_order_refund_restores_in_proportion_to_the_capture():
    captured = Split(principal=9_000, bonus=1_000)
    assert stored_value.restore_split(captured, Split(), 10_000) == captured
    assert stored_value.restore_split(captured, Split(), 1_000) == Split(900, 100)
    # 1,001 of 10,000: bonus 100.1 → 100, the fen goes to principal.
    assert stored_value.restore_split(captured, Split(), 1_001) == Split(901, 100)
    with pytest.raises(ValueError):
        stored_value.restore_split(captured, Split(9_000, 999), 2)


@settings(max_examples=300, deadline=None, database=None)
@given(
    principal=st.integers(0, 10**6),
    bonus=st.integers(0, 10**5),
    cuts=st.lists(st.integers(1, 10**6), min_size=1, max_size=8),
)
def test_restores_never_exceed_either_part_and_end_exact(principal, bonus, cuts):
    captured = Split(principal, bonus)
    if captured.total == 0:
        return
    returned = Split()
    for cut in cuts:
        left = captured.total - returned.total
        if left == 0:
            break
        part = stored_value.restore_split(captured, returned, min(cut, left))
        assert part.principal >= 0 and part.bonus >= 0 and part.total == min(cut, left)
        returned = returned + part
        assert returned.principal <= principal and returned.bonus <= bonus
    final = captured - returned
    if final.total:
        returned = returned + stored_value.restore_split(captured, returned, final.total)
    assert returned == captured


@settings(max_examples=300, deadline=None, database=None)
@given(
    principal=st.integers(1, 10**7),
    ratio=st.integers(0, 100),
    cuts=st.lists(st.integers(1, 10**7), min_size=1, max_size=8),
)
def test_top_up_clawbacks_sum_to_the_bonus_to_the_fen(principal, ratio, cuts):
    bonus = principal * ratio // 100
    top_up = TopUp(principal, bonus)
    available = Split(principal, bonus)
    total_clawed = 0
    for cut in [*cuts, principal]:
        amount = min(cut, principal - top_up.refunded)
        if amount == 0:
            break
        r = stored_value.refund_top_up(top_up, available, amount)
        assert isinstance(r, TopUpRefund) and 0 <= r.kept_from_cash <= r.principal
        total_clawed += r.clawback
        available = available - Split(r.principal, r.bonus_clawed_back)
        top_up = TopUp(principal, bonus, top_up.refunded + amount, top_up.clawed_back + r.clawback)
        assert top_up.clawed_back == bonus * top_up.refunded // principal
    assert total_clawed == bonus and available == Split(0, 0)
