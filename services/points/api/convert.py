"""Proto ⇄ domain conversions and input checks of the points API."""

from __future__ import annotations

import datetime as dt
import re

from loyalty.points.v1 import resources_pb2 as res
from services.kit import idempotency, timestamps
from services.kit.errors import Violations

from ..domain import postings
from ..domain import rules as rules_domain
from ..domain.holds import HoldState
from ..domain.members import Balance
from ..domain.rules import EarningRule, StreakBonus
from ..store.budgets import MerchantBudget
from ..store.holds import Hold
from ..store.journal import Entry
from ..usecases import Writes
from ..usecases.events import entry_kind

MAX_POINTS = rules_domain.MAX_POINTS
MERCHANT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")
BUCKETS = {
    postings.MEMBER_AVAILABLE: res.LEDGER_BUCKET_AVAILABLE,
    postings.MEMBER_PENDING: res.LEDGER_BUCKET_PENDING,
    postings.MEMBER_HELD: res.LEDGER_BUCKET_HELD,
    postings.MEMBER_DEBT: res.LEDGER_BUCKET_DEBT,
}
HOLD_STATES = {
    HoldState.HELD: res.HOLD_STATE_HELD,
    HoldState.CAPTURED: res.HOLD_STATE_CAPTURED,
    HoldState.RELEASED: res.HOLD_STATE_RELEASED,
    HoldState.EXPIRED: res.HOLD_STATE_EXPIRED,
}


def check_points(v: Violations, field: str, value: int) -> None:
    if value <= 0:
        v.add(field, "must be positive")
    elif value > MAX_POINTS:
        v.add(field, f"at most {MAX_POINTS}")


def check_merchant(v: Violations, field: str, value: str, required: bool = True) -> None:
    if not value and not required:
        return
    if not MERCHANT_ID.match(value):
        v.add(field, "1-64 characters: letters, digits and _ . : -")


def rule_kind(kind: str) -> res.EarningRuleKind.ValueType:
    return res.EarningRuleKind.Value(f"EARNING_RULE_KIND_{kind.upper()}")


def rule_proto(rule: EarningRule) -> res.EarningRule:
    return res.EarningRule(
        rule_code=rule.rule_code,
        kind=rule_kind(rule.kind),
        version=rule.version,
        points=rule.points,
        daily_cap=rule.daily_cap,
        period_cap=rule.period_cap,
        period_days=rule.period_days,
        streak_bonus=[res.StreakBonus(day=b.day, bonus=b.bonus) for b in rule.streak_bonus],
        merchant_funded=rule.merchant_funded,
        enabled=rule.enabled,
        effective_time=timestamps.to_proto(rule.effective_at),
    )


def hold_proto(hold: Hold) -> res.Hold:
    return res.Hold(
        hold_id=str(hold.hold_id),
        member_id=str(hold.member_id),
        amount=hold.amount,
        state=HOLD_STATES[hold.state],
        order_id=hold.order_id,
        expire_time=timestamps.to_proto(hold.expires_at),
        create_time=timestamps.to_proto(hold.created_at),
    )


def entry_proto(entry: Entry) -> res.LedgerEntry:
    posting = postings.Posting(entry.account, "", entry.amount, entry.entry_kind)
    return res.LedgerEntry(
        entry_id=str(entry.posting_id),
        transaction_id=str(entry.txn_id),
        kind=entry_kind(entry.entry_kind),
        amount=posting.displayed_amount,
        rule_code=entry.rule_code,
        reference=entry.reference,
        reason=entry.reason,
        create_time=timestamps.to_proto(entry.created_at),
        bucket=BUCKETS[entry.account],
    )


def balance_proto(balance: Balance) -> res.Balance:
    b = balance.buckets
    return res.Balance(
        member_id=str(balance.member_id),
        available=b.available,
        pending=b.pending,
        held=b.held,
        debt=b.debt,
        expiring_soon=balance.expiring_soon,
        expiring_soon_before=timestamps.to_proto(balance.expiring_before),
    )


def budget_proto(budget: MerchantBudget) -> res.MerchantBudget:
    return res.MerchantBudget(merchant_id=budget.merchant_id, balance=budget.balance)


def settled(response, writes: Writes) -> idempotency.Pending:
    """A write's response with the member's balance after it, its writes still to be sent
    (with the stored response, in one round trip)."""
    response.balance.CopyFrom(balance_proto(writes.balance()))
    return idempotency.Pending(response, writes)


def entry_kind_filter(v: Violations, value: res.LedgerEntryKind.ValueType) -> str | None:
    """The ledger entry kind a list is filtered by (None: any)."""
    if not value:
        return None
    if value not in res.LedgerEntryKind.values():
        v.add("kind", "unknown kind")
        return None
    return res.LedgerEntryKind.Name(value).removeprefix("LEDGER_ENTRY_KIND_").lower()


def rule_from_proto(r: res.EarningRule) -> EarningRule:
    """The domain rule of an UpsertEarningRule request (an unknown kind becomes "")."""
    kind = ""
    if r.kind and r.kind in res.EarningRuleKind.values():
        kind = res.EarningRuleKind.Name(r.kind).removeprefix("EARNING_RULE_KIND_").lower()
    return EarningRule(
        rule_code=r.rule_code,
        kind=kind,
        points=r.points,
        daily_cap=r.daily_cap,
        period_cap=r.period_cap,
        period_days=r.period_days,
        streak_bonus=tuple(StreakBonus(b.day, b.bonus) for b in r.streak_bonus),
        merchant_funded=r.merchant_funded,
        enabled=r.enabled,
        effective_at=r.effective_time.ToDatetime(dt.UTC) if r.HasField("effective_time") else None,
    )
