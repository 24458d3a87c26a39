"""A subscription as the store keeps it and as the domain reasons about it: loading one (with
the plan versions its terms name) and writing back what an operation made of it."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, replace

from ..domain import plans as rules
from ..domain.lifecycle import State
from ..domain.subscriptions import Subscription
from ..domain.terms import Channel, Term
from ..store import plans as plan_store
from ..store import subscriptions as store
from ..store.plans import PlanRow
from ..store.subscriptions import SubscriptionRow, TermRow


@dataclass(frozen=True)
class Held:
    """A stored subscription: its row, its domain value, and the plan versions it names."""

    row: SubscriptionRow
    sub: Subscription
    plans: dict[tuple[str, int], PlanRow]

    @property
    def subscription_id(self) -> uuid.UUID:
        return self.row.subscription_id

    def plan(self, plan: rules.Plan) -> PlanRow:
        return self.plans[(plan.code, plan.version)]


def subscription(row: SubscriptionRow, plans: dict[tuple[str, int], PlanRow]) -> Subscription:
    """The domain value of a row whose plan versions are in `plans`."""

    def plan(plan_id: str, version: int) -> rules.Plan:
        return plans[(plan_id, version)].rules

    renewal = None
    if row.renewal_plan_id is not None and row.renewal_plan_version is not None:
        renewal = plan(row.renewal_plan_id, row.renewal_plan_version)
    return Subscription(
        member_id=str(row.member_id),
        state=State(row.state),
        order_plan=plan(row.order_plan_id, row.order_plan_version),
        ordered_at=row.ordered_at,
        terms=tuple(
            Term(
                plan(t.plan_id, t.plan_version),
                t.start_time,
                t.end_time,
                t.paid_minor,
                t.paid_at,
                Channel(t.channel),
            )
            for t in row.terms
        ),
        auto_renew=row.auto_renew,
        renewal_plan=renewal,
        anchor_day=row.anchor_day,
        grace_until=row.grace_until,
        attempts=row.attempts,
        last_attempt_at=row.last_attempt_at,
        ended_at=row.ended_at,
        refunded_minor=row.refunded_minor,
    )


async def plans_of(conn, rows: Iterable[SubscriptionRow]) -> dict[tuple[str, int], PlanRow]:
    """The plan versions the rows name (their first order's, their terms', their renewal's),
    in one query however many rows."""
    keys: set[tuple[str, int]] = set()
    for row in rows:
        keys.add((row.order_plan_id, row.order_plan_version))
        keys |= {(t.plan_id, t.plan_version) for t in row.terms}
        if row.renewal_plan_id is not None and row.renewal_plan_version is not None:
            keys.add((row.renewal_plan_id, row.renewal_plan_version))
    return await plan_store.versions(conn, keys)


async def load(conn, row: SubscriptionRow | None) -> Held | None:
    if row is None:
        return None
    found = await plans_of(conn, [row])
    return Held(row, subscription(row, found), found)


async def get(conn, subscription_id: uuid.UUID, *, lock: bool = False) -> Held | None:
    return await load(conn, await store.get(conn, subscription_id, lock=lock))


async def live(conn, member_id: uuid.UUID, *, lock: bool = False) -> Held | None:
    return await load(conn, await store.live(conn, member_id, lock=lock))


def new_row(
    subscription_id: uuid.UUID,
    member_id: uuid.UUID,
    order_id: uuid.UUID | None,
    sub: Subscription,
) -> SubscriptionRow:
    """The row of a new subscription, without its terms (`changed_row` adds them): one
    created by its first order (`order_id`), or started free (None)."""
    return SubscriptionRow(
        subscription_id=subscription_id,
        member_id=member_id,
        state=sub.state.value,
        order_plan_id=sub.order_plan.code,
        order_plan_version=sub.order_plan.version,
        ordered_at=sub.ordered_at,
        auto_renew=sub.auto_renew,
        renewal_plan_id=None,
        renewal_plan_version=None,
        anchor_day=sub.anchor_day,
        grace_until=None,
        attempts=0,
        last_attempt_at=None,
        start_time=None,
        ended_at=None,
        end_cause=None,
        refunded_minor=None,
        order_id=order_id,
        update_time=sub.ordered_at,
    )


def changed_row(
    before: SubscriptionRow,
    sub: Subscription,
    now: dt.datetime,
    *,
    order_id: uuid.UUID | None = None,
    payment_id: str | None = None,
    end_cause: str | None = None,
    pending_order: uuid.UUID | None = None,
) -> SubscriptionRow:
    """`before` as `sub` leaves it; the terms `before` lacks are new, from `order_id` paid
    with `payment_id`."""
    known = len(before.terms)
    added = tuple(
        TermRow(
            subscription_id=before.subscription_id,
            sequence=i + 1,
            plan_id=t.plan.code,
            plan_version=t.plan.version,
            channel=t.channel.value,
            start_time=t.start,
            end_time=t.end,
            paid_minor=t.paid_minor,
            paid_at=t.paid_at,
            order_id=order_id,
            payment_id=payment_id,
        )
        for i, t in enumerate(sub.terms)
        if i >= known
    )
    start = before.start_time
    if start is None and sub.terms:
        start = sub.terms[0].start
    return replace(
        before,
        state=sub.state.value,
        auto_renew=sub.auto_renew,
        renewal_plan_id=sub.renewal_plan.code if sub.renewal_plan else None,
        renewal_plan_version=sub.renewal_plan.version if sub.renewal_plan else None,
        anchor_day=sub.anchor_day,
        grace_until=sub.grace_until,
        attempts=sub.attempts,
        last_attempt_at=sub.last_attempt_at,
        start_time=start,
        ended_at=sub.ended_at,
        end_cause=end_cause if end_cause is not None else before.end_cause,
        refunded_minor=sub.refunded_minor,
        order_id=pending_order,
        update_time=now,
        terms=(*before.terms, *added),
    )
