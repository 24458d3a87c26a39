"""Proto ⇄ domain conversions and input checks of the points API."""

from __future__ import annotations

import datetime as dt
import re

from loyalty.points.v1 import resources_pb2 as res
from services.kit import timestamps
from services.kit.errors import Violations

from ..domain import ledger as books
from ..domain import rules as rules_domain
from ..domain.rules import EarningRule, StreakBonus

MAX_POINTS = rules_domain.MAX_POINTS
MERCHANT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")
BUCKETS = {
    books.AVAILABLE: res.LEDGER_BUCKET_AVAILABLE,
    books.PENDING: res.LEDGER_BUCKET_PENDING,
    books.HELD: res.LEDGER_BUCKET_HELD,
    books.DEBT: res.LEDGER_BUCKET_DEBT,
}
HOLD_STATES = {
    "held": res.HOLD_STATE_HELD,
    "captured": res.HOLD_STATE_CAPTURED,
    "released": res.HOLD_STATE_RELEASED,
    "expired": res.HOLD_STATE_EXPIRED,
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


def rule_kind(kind: str) -> int:
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


def hold_proto(row) -> res.Hold:
    return res.Hold(
        hold_id=str(row["hold_id"]),
        member_id=str(row["member_id"]),
        amount=row["amount"],
        state=HOLD_STATES[row["state"]],
        order_id=row["order_id"],
        expire_time=timestamps.to_proto(row["expires_at"]),
        create_time=timestamps.to_proto(row["created_at"]),
    )


def entry_proto(row) -> res.LedgerEntry:
    posting = books.Posting(row["account"], "", row["amount"], row["entry_kind"])
    return res.LedgerEntry(
        entry_id=str(row["posting_id"]),
        transaction_id=str(row["txn_id"]),
        kind=res.LedgerEntryKind.Value(f"LEDGER_ENTRY_KIND_{row['entry_kind'].upper()}"),
        amount=posting.displayed_amount,
        rule_code=row["rule_code"],
        reference=row["reference"],
        reason=row["reason"],
        create_time=timestamps.to_proto(row["created_at"]),
        bucket=BUCKETS[row["account"]],
    )


def entry_kind_filter(v: Violations, value: int) -> str | None:
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
