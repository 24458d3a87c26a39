"""The local projection of members' subscriptions (for the rebate multiplier)."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from .locks import LOCK_SUBSCRIPTION


@dataclass(frozen=True)
class Subscription:
    """A subscription as projected: its state (domain.subscription) and multiplier (0: the
    default one)."""

    subscription_id: str
    member_id: uuid.UUID
    state: str
    multiplier: int


async def lock(conn, subscription_id: str) -> Subscription | None:
    """The projected subscription, with every event of it serialised (even the first)."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock($1, hashtext($2))", LOCK_SUBSCRIPTION, subscription_id
    )
    row = await conn.fetchrow(
        "SELECT subscription_id, member_id, state, multiplier FROM subscriptions"
        " WHERE subscription_id = $1 FOR UPDATE",
        subscription_id,
    )
    return Subscription(**row) if row else None


async def upsert(
    conn,
    *,
    subscription_id: str,
    member_id: uuid.UUID,
    state: str,
    multiplier: int,
    period_end: dt.datetime | None,
) -> None:
    await conn.execute(
        "INSERT INTO subscriptions (subscription_id, member_id, state, multiplier, period_end)"
        " VALUES ($1, $2, $3, $4, $5)"
        " ON CONFLICT (subscription_id) DO UPDATE SET state = EXCLUDED.state,"
        " multiplier = CASE WHEN EXCLUDED.multiplier > 0 THEN EXCLUDED.multiplier"
        "                   ELSE subscriptions.multiplier END,"
        " period_end = coalesce(EXCLUDED.period_end, subscriptions.period_end),"
        " updated_at = now()",
        subscription_id,
        member_id,
        state,
        multiplier,
        period_end,
    )


async def of_member(conn, member_id: uuid.UUID) -> list[Subscription]:
    rows = await conn.fetch(
        "SELECT subscription_id, member_id, state, multiplier FROM subscriptions"
        " WHERE member_id = $1",
        member_id,
    )
    return [Subscription(**r) for r in rows]
