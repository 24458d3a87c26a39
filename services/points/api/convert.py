"""Proto ⇄ domain conversions and input checks of the points API."""

from __future__ import annotations

import re

from loyalty.points.v1 import resources_pb2 as res
from services.kit import idempotency, timestamps
from services.kit.errors import Violations

from ..domain import commerce, postings
from ..domain import rules as rules_domain
from ..domain.commerce import ParkedState, RefundState
from ..domain.holds import HoldState
from ..domain.members import Balance
from ..domain.rebates import RebateState
from ..domain.rules import EarningRule, StreakBonus
from ..store.budgets import MerchantBudget
from ..store.holds import Hold
from ..store.journal import Entry
from ..store.orders import Order, OrderRefund
from ..store.parked import Parked
from ..usecases import Writes
from ..usecases.events import entry_kind
from ..usecases.reading import OrderView

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
REBATE_STATES = {
    RebateState.NONE: res.REBATE_STATE_NONE,
    RebateState.PENDING: res.REBATE_STATE_PENDING,
    RebateState.AVAILABLE: res.REBATE_STATE_AVAILABLE,
    RebateState.CANCELLED: res.REBATE_STATE_CANCELLED,
}
REFUND_STATES = {
    RefundState.WAITING_FOR_PAYMENT: res.ORDER_REFUND_STATE_WAITING_FOR_PAYMENT,
    RefundState.APPLIED: res.ORDER_REFUND_STATE_APPLIED,
    RefundState.REFUSED: res.ORDER_REFUND_STATE_REFUSED,
}
PARKED_STATES = {
    ParkedState.WAITING: res.PARKED_EVENT_STATE_WAITING_FOR_MEMBER,
    ParkedState.HELD: res.PARKED_EVENT_STATE_HELD,
    ParkedState.APPLIED: res.PARKED_EVENT_STATE_APPLIED,
    ParkedState.GIVEN_UP: res.PARKED_EVENT_STATE_GIVEN_UP,
    ParkedState.REFUSED: res.PARKED_EVENT_STATE_REFUSED,
    ParkedState.SUPERSEDED: res.PARKED_EVENT_STATE_SUPERSEDED,
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


def order_proto(view: OrderView) -> res.Order:
    order = view.order
    return res.Order(
        order_id=view.order_id,
        member_id=str(view.member_id),
        payment=payment_proto(order) if order else None,
        holds=[hold_proto(h) for h in view.holds],
        rebate=rebate_proto(order),
        refunds=[refund_proto(r) for r in view.refunds],
        parked_events=[parked_proto(e) for e in view.parked],
        complete_time=timestamps.to_proto(order.completed_at if order else None),
        cancel_time=timestamps.to_proto(order.cancelled_at if order else None),
    )


def payment_proto(order: Order) -> res.OrderPayment | None:
    """The payment as applied; None (unset) while none was."""
    if order.paid_at is None:
        return None
    return res.OrderPayment(
        apply_time=timestamps.to_proto(order.paid_at),
        merchant_id=order.merchant_id,
        currency_code=order.currency_code,
        paid_amount_minor=order.paid_amount_minor,
        refunded_amount_minor=order.refunded_minor,
        points_hold_id=str(order.points_hold_id) if order.points_hold_id else "",
        points_used=order.points_used,
        points_captured=order.points_captured,
        points_returned=order.points_returned,
    )


def rebate_proto(order: Order | None) -> res.OrderRebate:
    if order is None:
        return res.OrderRebate(state=res.REBATE_STATE_NONE)
    return res.OrderRebate(
        state=REBATE_STATES[order.rebate_state],
        points=order.rebate_points,
        reversed_points=order.rebate_reversed,
        multiplier=order.multiplier,
        reason=order.rebate_note.value,
    )


def refund_proto(refund: OrderRefund) -> res.OrderRefund:
    state = commerce.refund_state(refund.applied_at is not None, refund.refused_reason)
    return res.OrderRefund(
        refund_id=refund.refund_id,
        refunded_amount_minor=refund.refunded_amount_minor,
        points_to_return=refund.points_to_return,
        state=REFUND_STATES[state],
        refused_reason=refund.refused_reason,
        receive_time=timestamps.to_proto(refund.received_at),
        apply_time=timestamps.to_proto(refund.applied_at),
    )


def parked_proto(event: Parked) -> res.ParkedEvent:
    return res.ParkedEvent(
        event_id=event.event_id,
        event_type=event.event_type,
        member_id=str(event.member_id),
        state=PARKED_STATES[event.state],
        reason=event.reason,
        description=event.detail,
        park_time=timestamps.to_proto(event.parked_at),
        give_up_time=timestamps.to_proto(event.wait_until),
        settle_time=timestamps.to_proto(event.settled_at),
        refused_reason=event.settle_reason,
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


def rule_from_proto(v: Violations, r: res.EarningRule) -> EarningRule:
    """The domain rule of an UpsertEarningRule request (an unknown kind becomes ""; an
    effective_time out of range is a violation of `rule.effective_time`)."""
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
        effective_at=timestamps.field(v, r, "effective_time", "rule.effective_time"),
    )
