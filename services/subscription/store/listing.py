"""Subscriptions as operators list them: newest first (by when they were ordered), filtered."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid

from .subscriptions import SubscriptionRow, TermRow

_COLUMNS = ", ".join(
    f"s.{f.name}" for f in dataclasses.fields(SubscriptionRow) if f.name != "terms"
)
_TERM_COLUMNS = ", ".join(f.name for f in dataclasses.fields(TermRow))


async def subscriptions(
    conn,
    *,
    now: dt.datetime,
    member_id: uuid.UUID | None,
    state: str | None,
    plan_id: str | None,
    period_end_before: dt.datetime | None,
    before: tuple[dt.datetime, uuid.UUID] | None,
    limit: int,
) -> list[SubscriptionRow]:
    """One page after the cursor `before` (ordered_at, subscription_id of the previous page's
    last). The plan in effect is the current term's at `now`, else the last term's, else (no
    term yet) the first order's; period_end is the last term's end."""
    ordered_at, after_id = before if before is not None else (None, None)
    records = await conn.fetch(
        f"SELECT {_COLUMNS} FROM subscriptions s"
        " LEFT JOIN LATERAL ("
        "   SELECT max(t.end_time) AS period_end,"
        "     (array_agg(t.plan_id ORDER BY (t.start_time <= $1 AND t.end_time > $1) DESC,"
        "       t.sequence DESC))[1] AS plan_now"
        "   FROM terms t WHERE t.subscription_id = s.subscription_id"
        " ) held ON true"
        " WHERE ($2::uuid IS NULL OR s.member_id = $2)"
        "   AND ($3::text IS NULL OR s.state = $3)"
        "   AND ($4::text IS NULL OR COALESCE(held.plan_now, s.order_plan_id) = $4)"
        "   AND ($5::timestamptz IS NULL OR held.period_end < $5)"
        "   AND ($6::timestamptz IS NULL OR (s.ordered_at, s.subscription_id) < ($6, $7::uuid))"
        " ORDER BY s.ordered_at DESC, s.subscription_id DESC LIMIT $8",
        now,
        member_id,
        state,
        plan_id,
        period_end_before,
        ordered_at,
        after_id,
        limit,
    )
    if not records:
        return []
    terms = await conn.fetch(
        f"SELECT {_TERM_COLUMNS} FROM terms WHERE subscription_id = ANY($1)"
        " ORDER BY subscription_id, sequence",
        [r["subscription_id"] for r in records],
    )
    by_subscription: dict[uuid.UUID, list[TermRow]] = {}
    for t in terms:
        by_subscription.setdefault(t["subscription_id"], []).append(TermRow(**dict(t)))
    return [
        SubscriptionRow(**dict(r), terms=tuple(by_subscription.get(r["subscription_id"], ())))
        for r in records
    ]
