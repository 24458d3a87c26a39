"""The events that say a term started: `subscription.activated` for a new subscription's first
term, `subscription.renewed` for a term added to a live one (a renewal, a stacked purchase, a
code or a gift). Every use case that adds a term announces it here, so the payload is one."""

from __future__ import annotations

import uuid
from typing import Any

from loyalty.subscription.v1 import events_pb2 as ev
from loyalty.subscription.v1 import resources_pb2 as res
from services.kit.timestamps import to_proto

from ..deps import SubscriptionDeps
from ..domain.terms import Channel
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
