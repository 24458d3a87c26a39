"""Conversions between subscription's rows and the proto resources."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from loyalty.subscription.v1 import resources_pb2 as res
from loyalty.type.v1 import money_pb2
from services.kit.timestamps import to_proto

from ..domain.lifecycle import State
from ..domain.terms import term_at
from ..store.orders import Order
from ..store.plans import BenefitRow, PlanRow
from ..store.refunds import RefundRow
from ..usecases.changes import NOW, PendingChange
from ..usecases.records import Held

_SOURCES = {
    "purchase": res.TERM_SOURCE_PURCHASE,
    "renewal": res.TERM_SOURCE_RENEWAL,
    "trial": res.TERM_SOURCE_TRIAL,
    "code": res.TERM_SOURCE_REDEMPTION_CODE,
    "gift": res.TERM_SOURCE_GIFT,
    "plan_change": res.TERM_SOURCE_PLAN_CHANGE,
}
PLAN_KINDS = {
    res.PLAN_KIND_MONTHLY: "monthly",
    res.PLAN_KIND_QUARTERLY: "quarterly",
    res.PLAN_KIND_YEARLY: "yearly",
    res.PLAN_KIND_TRIAL: "trial",
}
BENEFIT_KINDS = {
    res.BENEFIT_KIND_COUPON_PACK: "coupon_pack",
    res.BENEFIT_KIND_PARTNER_PERK: "partner_perk",
    res.BENEFIT_KIND_SERVICE_PERK: "service_perk",
}
QUOTA_PERIODS = {
    res.QUOTA_PERIOD_UNSPECIFIED: "month",
    res.QUOTA_PERIOD_MONTH: "month",
    res.QUOTA_PERIOD_YEAR: "year",
}
COLLECTIONS = {
    res.PAYMENT_COLLECTION_UNSPECIFIED: "provider",
    res.PAYMENT_COLLECTION_PROVIDER: "provider",
    res.PAYMENT_COLLECTION_STOREFRONT: "storefront",
}


def _name(enum: Any, prefix: str, value: str) -> Any:
    return enum.Value(f"{prefix}_{value.upper()}")


def money(amount_minor: int, currency: str) -> money_pb2.Money:
    return money_pb2.Money(currency_code=currency, amount_minor=amount_minor)


def text(value: uuid.UUID | str | None) -> str:
    return str(value) if value is not None else ""


def benefit_proto(b: BenefitRow, currency: str) -> res.Benefit:
    return res.Benefit(
        benefit_id=b.benefit_id,
        kind=_name(res.BenefitKind, "BENEFIT_KIND", b.kind),
        display_name=b.display_name,
        description=b.description,
        quantity=b.quantity,
        quota_period=_name(res.QuotaPeriod, "QUOTA_PERIOD", b.quota_period),
        value=money(b.value_minor, currency),
        coupon_template_id=b.coupon_template_id,
        perk_pool_id=b.perk_pool_id,
        service_code=b.service_code,
    )


def plan_proto(row: PlanRow) -> res.Plan:
    return res.Plan(
        plan_id=row.plan_id,
        version=row.version,
        display_name=row.display_name,
        description=row.description,
        kind=_name(res.PlanKind, "PLAN_KIND", row.kind),
        price=money(row.price_minor, row.currency_code),
        trial_days=row.trial_days,
        points_multiplier=row.points_multiplier,
        member_discount_bps=row.member_discount_bps,
        benefits=[benefit_proto(b, row.currency_code) for b in row.benefits],
        on_sale=row.on_sale,
        created_by=row.created_by,
        create_time=to_proto(row.create_time),
    )


def order_proto(o: Order) -> res.SubscriptionOrder:
    return res.SubscriptionOrder(
        order_id=str(o.order_id),
        member_id=str(o.member_id),
        kind=_name(res.OrderKind, "ORDER_KIND", o.kind),
        subscription_id=str(o.subscription_id),
        plan_id=o.plan_id,
        plan_version=o.plan_version,
        state=_name(res.OrderState, "ORDER_STATE", o.state),
        collection=_name(res.PaymentCollection, "PAYMENT_COLLECTION", o.collection),
        list_price=money(o.list_price_minor, o.currency_code),
        credit=money(o.credit_minor, o.currency_code),
        amount=money(o.amount_minor, o.currency_code),
        charge_attempts=o.charge_attempts,
        last_failure_reason=o.last_failure_reason,
        payment_id=o.payment_id or "",
        created_by=o.created_by,
        create_time=to_proto(o.create_time),
        expire_time=to_proto(o.expire_time),
        settle_time=to_proto(o.settle_time),
    )


def subscription_proto(
    held: Held, now: dt.datetime, renewal_lead: dt.timedelta
) -> res.Subscription:
    row, sub = held.row, held.sub
    plan = held.plan(sub.plan_at(now))
    term = term_at(sub.terms, now) or (sub.terms[-1] if sub.terms else None)
    renewal = held.plan(sub.renewal_plan) if sub.renewal_plan else None
    live = sub.state in (State.ACTIVE, State.GRACE)
    next_charge = None
    if sub.auto_renew and live and row.order_id is None and sub.period_end is not None:
        next_charge = sub.period_end - renewal_lead
    return res.Subscription(
        subscription_id=str(row.subscription_id),
        member_id=str(row.member_id),
        state=_name(res.SubscriptionState, "SUBSCRIPTION_STATE", sub.state.value),
        plan_id=plan.plan_id,
        plan_version=plan.version,
        currency_code=plan.currency_code,
        points_multiplier=plan.points_multiplier,
        member_discount_bps=plan.member_discount_bps,
        auto_renew=sub.auto_renew,
        start_time=to_proto(row.start_time),
        period_start=to_proto(term.start if term else None),
        period_end=to_proto(sub.period_end),
        terms=[
            res.SubscriptionTerm(
                sequence=t.sequence,
                source=_SOURCES[t.channel],
                plan_id=t.plan_id,
                plan_version=t.plan_version,
                start_time=to_proto(t.start_time),
                end_time=to_proto(t.end_time),
                value=money(t.paid_minor, plan.currency_code),
                order_id=text(t.order_id),
                payment_id=t.payment_id or "",
                acquire_time=to_proto(t.paid_at),
            )
            for t in row.terms
        ],
        renewal_plan_id=renewal.plan_id if renewal else "",
        renewal_plan_version=renewal.version if renewal else 0,
        renewal_price=money(renewal.price_minor, renewal.currency_code) if renewal else None,
        next_charge_time=to_proto(next_charge),
        order_id=text(row.order_id),
        grace_until=to_proto(sub.grace_until),
        end_time=to_proto(sub.ended_at),
        end_cause=(
            _name(res.EndCause, "END_CAUSE", row.end_cause)
            if row.end_cause
            else res.END_CAUSE_UNSPECIFIED
        ),
        update_time=to_proto(row.update_time),
    )


def refund_proto(r: RefundRow) -> res.Refund:
    return res.Refund(
        refund_id=text(r.refund_id),
        subscription_id=str(r.subscription_id),
        amount=money(r.amount_minor, r.currency_code),
        full_refund=r.full_refund,
        paid_value=money(r.paid_minor, r.currency_code),
        share_value=money(r.share_minor, r.currency_code),
        benefits_used=money(r.used_value_minor, r.currency_code),
        claims_counted=r.claims_counted,
        payments=[
            res.RefundPayment(
                order_id=text(p.order_id),
                payment_id=p.payment_id,
                amount=money(p.amount_minor, r.currency_code),
            )
            for p in r.payments
        ],
        refund_time=to_proto(r.refund_time),
        refunded_by=r.refunded_by,
        reason=r.reason,
        term_sequences=list(r.term_sequences),
    )


def pending_proto(change: PendingChange) -> res.PendingPlanChange:
    return res.PendingPlanChange(
        plan_id=change.plan_id,
        plan_version=change.plan_version,
        timing=(
            res.PLAN_CHANGE_TIMING_NOW
            if change.timing == NOW
            else res.PLAN_CHANGE_TIMING_AT_RENEWAL
        ),
        order_id=str(change.order_id) if change.order_id else "",
        request_time=to_proto(change.request_time),
    )
