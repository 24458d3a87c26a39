"""Payments that could not be applied: kept for an operator, never dropped."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import asyncpg


@dataclass(frozen=True)
class ParkedPayment:
    event_id: str
    payment_id: str
    order_id: str
    member_id: str
    amount_minor: int
    currency_code: str
    reason: str
    description: str
    park_time: dt.datetime


async def park(conn: asyncpg.Connection, p: ParkedPayment) -> None:
    await conn.execute(
        "INSERT INTO parked_payments (event_id, payment_id, order_id, member_id, amount_minor,"
        " currency_code, reason, description, park_time)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (event_id) DO NOTHING",
        p.event_id,
        p.payment_id,
        p.order_id,
        p.member_id,
        p.amount_minor,
        p.currency_code,
        p.reason,
        p.description,
        p.park_time,
    )


_COLUMNS = """event_id, payment_id, order_id, member_id, amount_minor, currency_code, reason,
    description, park_time"""


async def listed(
    conn,
    *,
    reason: str | None,
    order_id: str | None,
    before: tuple[dt.datetime, str] | None,
    limit: int,
) -> list[ParkedPayment]:
    """Newest first, after the cursor `before` (park_time, event_id of the previous page's
    last)."""
    park_time, event_id = before if before is not None else (None, None)
    records = await conn.fetch(
        f"SELECT {_COLUMNS} FROM parked_payments"
        " WHERE ($1::text IS NULL OR reason = $1) AND ($2::text IS NULL OR order_id = $2)"
        "   AND ($3::timestamptz IS NULL OR (park_time, event_id) < ($3, $4::text))"
        " ORDER BY park_time DESC, event_id DESC LIMIT $5",
        reason,
        order_id,
        park_time,
        event_id,
        limit,
    )
    return [ParkedPayment(**dict(r)) for r in records]
