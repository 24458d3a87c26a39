"""Postings: every builder balances, buckets move as the member sees them, debt is repaid."""

from __future__ import annotations

import pytest

from services.points.domain import postings as ledger
from services.points.domain.postings import Buckets, Transaction

M = "member-1"


def txn() -> Transaction:
    return Transaction("test", M)


def test_credit_without_debt_balances_and_adds_to_available():
    t = txn()
    assert ledger.credit(t, M, 100, ledger.issuance("task"), owed=0) == 0
    assert t.is_balanced()
    assert t.bucket_deltas() == Buckets(available=100)
    assert t.account_delta(ledger.ISSUANCE, "task") == -100


def test_credit_repays_debt_first():
    t = txn()
    assert ledger.credit(t, M, 100, ledger.issuance("task"), owed=30) == 30
    assert t.is_balanced()
    assert t.bucket_deltas() == Buckets(available=70, debt=-30)
    kinds = {p.kind for p in t.postings}
    assert kinds == {ledger.CREDIT, ledger.DEBT_REPAY}


def test_credit_smaller_than_debt_goes_entirely_to_debt():
    t = txn()
    assert ledger.credit(t, M, 20, ledger.issuance("task"), owed=50) == 20
    assert t.bucket_deltas() == Buckets(available=0, debt=-20)


def test_take_or_owe_records_the_shortfall_as_debt():
    t = txn()
    owed = ledger.take_or_owe(t, M, 100, 30, ledger.issuance("purchase_rebate"), ledger.CLAWBACK)
    assert owed == 70
    assert t.is_balanced()
    assert t.bucket_deltas() == Buckets(available=-30, debt=70)
    debt = [p for p in t.postings if p.account == ledger.MEMBER_DEBT]
    assert debt[0].amount == -70 and debt[0].displayed_amount == 70


@pytest.mark.parametrize(
    ("build", "deltas"),
    [
        (lambda t: ledger.hold(t, M, 10), Buckets(available=-10, held=10)),
        (lambda t: ledger.release(t, M, 10), Buckets(available=10, held=-10)),
        (lambda t: ledger.capture(t, M, 10), Buckets(held=-10)),
        (lambda t: ledger.pending_credit(t, M, 10, ("issuance", "r")), Buckets(pending=10)),
        (lambda t: ledger.cancel_pending(t, M, 10, ("issuance", "r")), Buckets(pending=-10)),
        (lambda t: ledger.confirm_pending(t, M, 10, 4), Buckets(available=6, pending=-10, debt=-4)),
        (
            lambda t: ledger.debit(t, M, 10, (ledger.EXPIRY, ""), ledger.EXPIRE),
            Buckets(available=-10),
        ),
    ],
)
def test_every_builder_balances(build, deltas):
    t = txn()
    build(t)
    assert t.is_balanced()
    assert t.bucket_deltas() == deltas


def test_top_up_moves_points_into_the_merchant_budget():
    t = Transaction("top_up")
    ledger.top_up(t, "shop", 500)
    assert t.is_balanced()
    assert t.account_delta(ledger.MERCHANT_BUDGET, "shop") == 500
    assert t.bucket_deltas() == Buckets()


@pytest.mark.parametrize("amount", [0, -1])
def test_builders_refuse_non_positive_amounts(amount):
    with pytest.raises(ValueError):
        ledger.hold(txn(), M, amount)


def test_an_empty_transaction_is_not_balanced():
    assert not txn().is_balanced()
