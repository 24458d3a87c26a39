"""Reconciliation arithmetic: the liability identity, its lines, and every mismatch listed."""

from __future__ import annotations

from services.giftcard.domain import liability
from services.giftcard.domain.liability import (
    Balances,
    BonusFlows,
    CardFlows,
    Mismatch,
    PrincipalFlows,
    StockItem,
    StockLine,
)
from services.giftcard.domain.states import CardState

CARDS = CardFlows(
    loaded=1_000_000,
    redeemed=300_000,
    restored=50_000,
    refunded=100_000,
    exchanged=50_000,
    expired=20_000,
    written_off=30_000,
)
PRINCIPAL = PrincipalFlows(topped_up=500_000, spent=200_000, restored=10_000, refunded=100_000)
BONUS = BonusFlows(granted=25_000, spent=5_000, restored=1_000, clawed_back=5_000)
BALANCES = Balances(cards=550_000, principal=210_000, bonus=16_000)


def test_outstanding_is_loaded_less_redeemed_refunded_expired_each_line_apart():
    assert CARDS.net == 1_000_000 - 300_000 + 50_000 - 100_000 - 50_000 - 20_000 - 30_000
    assert PRINCIPAL.net == 210_000
    assert BONUS.net == 16_000


def test_the_report_has_every_flow_and_the_outstanding_lines():
    report = liability.report(CARDS, PRINCIPAL, BONUS)
    assert report["cards.loaded"] == 1_000_000
    assert report["cards.written_off"] == 30_000
    assert report["stored_value.principal.topped_up"] == 500_000
    assert report["stored_value.bonus.clawed_back"] == 5_000
    assert report[liability.CARDS] == 550_000
    assert report[liability.PRINCIPAL] == 210_000
    assert report[liability.BONUS] == 16_000
    assert report[liability.TOTAL] == 776_000
    assert len(report) == 7 + 4 + 4 + 4


def test_balances_that_match_the_flows_reconcile():
    assert liability.reconcile(CARDS, PRINCIPAL, BONUS, BALANCES) == []


def test_every_mismatching_line_is_listed_not_just_the_first():
    off = Balances(cards=550_001, principal=210_000, bonus=15_999)
    assert liability.reconcile(CARDS, PRINCIPAL, BONUS, off) == [
        Mismatch(liability.CARDS, 550_000, 550_001),
        Mismatch(liability.BONUS, 16_000, 15_999),
    ]
    # The total balances out here, and says so by not being listed.
    assert off.cards + off.principal + off.bonus == 776_000


def test_a_daily_report_rolls_forward_from_the_day_before():
    day1 = liability.report(CARDS, PRINCIPAL, BONUS)
    day2_flows = CardFlows(loaded=10_000, redeemed=4_000)
    day2 = liability.report(day2_flows, PrincipalFlows(), BonusFlows(), opening=day1)
    assert day2[liability.CARDS] == 556_000
    assert day2["cards.loaded"] == 10_000  # the day's flows, not cumulative
    balances = Balances(cards=556_000, principal=210_000, bonus=16_000)
    assert liability.reconcile(day2_flows, PrincipalFlows(), BonusFlows(), balances, day1) == []


def test_mismatches_compares_any_two_reports_and_names_missing_lines():
    expected = {"a": 1, "b": 2, "c": 3}
    actual = {"a": 1, "b": 5, "d": 4}
    found = liability.mismatches(expected, actual)
    assert found == [Mismatch("b", 2, 5), Mismatch("c", 3, None), Mismatch("d", None, 4)]
    assert [m.difference for m in found] == [3, None, None]
    assert liability.mismatches(expected, actual, ["a"]) == []


def test_stock_by_state_and_denomination():
    items = [
        StockItem(CardState.READY, 10_000, 10_000),
        StockItem(CardState.READY, 10_000, 10_000),
        StockItem(CardState.READY, 50_000, 50_000),
        StockItem(CardState.ACTIVE, 10_000, 3_500),
        StockItem(CardState.ISSUED, 10_000, 0),
    ]
    assert liability.stock(items) == {
        (CardState.ACTIVE, 10_000): StockLine(1, 3_500),
        (CardState.ISSUED, 10_000): StockLine(1, 0),
        (CardState.READY, 10_000): StockLine(2, 20_000),
        (CardState.READY, 50_000): StockLine(1, 50_000),
    }
