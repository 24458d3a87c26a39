"""The events that say a term started: `subscription.activated` for a new subscription's first
term, `subscription.renewed` for a term added to a live one (a renewal, a stacked purchase, a
code or a gift). Every use case that adds a term announces it here, so the payload is one.
Likewise the charges asked of the payment provider (and withdrawn), grace, the end, and plan
changes: one payload each, whichever use case or job publishes it."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from loyalty.subscription.v1 import events_pb2 as ev
from loyalty.subscription.v1 import resources_pb2 as res
from loyalty.type.v1 import money_pb2
from services.kit.timestamps import to_proto

from ..deps import SubscriptionDeps
from ..domain.plans import Plan
from ..domain.terms import Channel, Term
from ..store.orders import Order
from ..store.subscriptions import SubscriptionRow
from .records import Held

SOURCES = {
    Channel.PURCHASE: res.TERM_SOURCE_PURCHASE,
    Channel.RENEWAL: res.TERM_SOURCE_RENEWAL,
    Channel.TRIAL: res.TERM_SOURCE_TRIAL,
    Channel.CODE: res.TERM_SOURCE_REDEMPTION_CODE,
    Channel.GIFT: res.TERM_SOURCE_GIFT,
    Channel.PLAN_CHANGE: res.TERM_SOURCE_PLAN_CHANGE,
}


async def term_started(
    deps: SubscriptionDeps,
    conn,
    held: Held,
    *,
    first: bool,
    order_id: uuid.UUID | None = None,
    code_batch_id: str = "",
) -> None:
    """Announce `held`'s last term: activated when it is the subscription's first (`first`),
    renewed otherwise."""
    term = held.sub.terms[-1]
    plan = held.plan(term.plan)
    common: dict[str, Any] = {
        "subscription_id": str(held.subscription_id),
        "member_id": str(held.row.member_id),
        "plan_id": plan.plan_id,
        "period_start": to_proto(term.start),
        "period_end": to_proto(term.end),
        "points_multiplier": plan.points_multiplier,
        "plan_version": plan.version,
        "source": SOURCES[term.channel],
        "order_id": str(order_id) if order_id else "",
        "code_batch_id": code_batch_id,
    }
    event: ev.SubscriptionActivated | ev.SubscriptionRenewed
    if first:
        event = ev.SubscriptionActivated(
            **common,
            auto_renew=held.sub.auto_renew,
            member_discount_bps=plan.member_discount_bps,
        )
    else:
        event = ev.SubscriptionRenewed(**common)
    await deps.outbox.add(conn, held.subscription_id, event)


# --- orders and their charges -------------------------------------------------------------------
ORDER_KINDS = {
    "purchase": res.ORDER_KIND_PURCHASE,
    "renewal": res.ORDER_KIND_RENEWAL,
    "plan_change": res.ORDER_KIND_PLAN_CHANGE,
}
ORDER_STATES = {
    "cancelled": res.ORDER_STATE_CANCELLED,
    "expired": res.ORDER_STATE_EXPIRED,
    "failed": res.ORDER_STATE_FAILED,
}
PURPOSE = "subscription"  # the payment's purpose the provider answers with


async def charge_requested(
    deps: SubscriptionDeps,
    conn,
    order: Order,
    description: str,
    now: dt.datetime,
) -> None:
    """Ask the payment provider for `order`'s amount: its `charge_attempts`-th charge, whose
    idempotency key is the order's `last_charge_id`."""
    assert order.last_charge_id is not None
    await deps.outbox.add(
        conn,
        order.order_id,
        ev.ChargeRequested(
            charge_id=str(order.last_charge_id),
            order_id=str(order.order_id),
            purpose=PURPOSE,
            member_id=str(order.member_id),
            subscription_id=str(order.subscription_id),
            kind=ORDER_KINDS[order.kind],
            plan_id=order.plan_id,
            plan_version=order.plan_version,
            amount=money_pb2.Money(
                currency_code=order.currency_code, amount_minor=order.amount_minor
            ),
            attempt=order.charge_attempts,
            description=description[:128],
            requested_time=to_proto(now),
            expire_time=to_proto(order.expire_time),
        ),
    )


async def charge_cancelled(deps: SubscriptionDeps, conn, order: Order, now: dt.datetime) -> None:
    """`order` was settled without its payment (CANCELLED, EXPIRED or FAILED): a provider asked
    to charge it must not (nothing to say when no charge was requested)."""
    if order.last_charge_id is None:
        return
    await deps.outbox.add(
        conn,
        order.order_id,
        ev.ChargeCancelled(
            order_id=str(order.order_id),
            charge_id=str(order.last_charge_id),
            member_id=str(order.member_id),
            order_state=ORDER_STATES[order.state],
            cancelled_time=to_proto(now),
        ),
    )


# --- the end, grace and plan changes ------------------------------------------------------------
END_CAUSES = {
    "period_ended": res.END_CAUSE_PERIOD_ENDED,
    "grace_ended": res.END_CAUSE_GRACE_ENDED,
    "refunded": res.END_CAUSE_REFUNDED,
    "member_closed": res.END_CAUSE_MEMBER_CLOSED,
}


async def expired(
    deps: SubscriptionDeps, conn, row: SubscriptionRow, ended_at: dt.datetime, cause: str
) -> None:
    await deps.outbox.add(
        conn,
        row.subscription_id,
        ev.SubscriptionExpired(
            subscription_id=str(row.subscription_id),
            member_id=str(row.member_id),
            expired_time=to_proto(ended_at),
            cause=END_CAUSES[cause],
        ),
    )


async def renewal_failed(
    deps: SubscriptionDeps,
    conn,
    row: SubscriptionRow,
    grace_until: dt.datetime,
    reason: str,
    failed_at: dt.datetime,
) -> None:
    """Grace started (once per renewal): `row.order_id` is the renewal order still to pay."""
    await deps.outbox.add(
        conn,
        row.subscription_id,
        ev.SubscriptionRenewalFailed(
            subscription_id=str(row.subscription_id),
            member_id=str(row.member_id),
            grace_until=to_proto(grace_until),
            order_id=str(row.order_id) if row.order_id else "",
            failure_reason=reason[:512],
            failed_time=to_proto(failed_at),
        ),
    )


async def plan_changed(
    deps: SubscriptionDeps,
    conn,
    held: Held,
    previous: Plan,
    cause: res.PlanChangeCause.ValueType,
    effective: dt.datetime,
    term: Term | None = None,
) -> None:
    """The plan in effect from `effective` is `term`'s (by default the last: a change paid
    now; term_starts.py for the others)."""
    term = term or held.sub.terms[-1]
    before, after = held.plan(previous), held.plan(term.plan)
    await deps.outbox.add(
        conn,
        held.subscription_id,
        ev.SubscriptionPlanChanged(
            subscription_id=str(held.subscription_id),
            member_id=str(held.row.member_id),
            previous_plan_id=before.plan_id,
            previous_plan_version=before.version,
            plan_id=after.plan_id,
            plan_version=after.version,
            cause=cause,
            points_multiplier=after.points_multiplier,
            member_discount_bps=after.member_discount_bps,
            effective_time=to_proto(effective),
            period_end=to_proto(held.sub.period_end),
        ),
    )
