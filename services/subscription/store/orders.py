"""Subscription orders: purchases (and later renewals and plan changes) waiting for their
payment."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

import asyncpg

_COLUMNS = """order_id, member_id, subscription_id, kind, plan_id, plan_version, state,
    collection, currency_code, list_price_minor, credit_minor, amount_minor, charge_attempts,
    last_failure_reason, payment_id, created_by, create_time, expire_time, settle_time"""


@dataclass(frozen=True)
class Order:
    order_id: uuid.UUID
    member_id: uuid.UUID
    subscription_id: uuid.UUID
    kind: str  # purchase | renewal | plan_change
    plan_id: str
    plan_version: int
    state: str  # pending_payment | paid | failed | expired | cancelled
    collection: str  # provider | storefront
    currency_code: str
    list_price_minor: int
    credit_minor: int
    amount_minor: int
    charge_attempts: int
    last_failure_reason: str
    payment_id: str | None
    created_by: str
    create_time: dt.datetime
    expire_time: dt.datetime
    settle_time: dt.datetime | None


def _row(record: asyncpg.Record | None) -> Order | None:
    return Order(**dict(record)) if record is not None else None


async def insert(conn: asyncpg.Connection, o: Order) -> Order:
    record = await conn.fetchrow(
        f"INSERT INTO orders ({_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11,"
        f" $12, $13, $14, $15, $16, $17, $18, $19) RETURNING {_COLUMNS}",
        o.order_id,
        o.member_id,
        o.subscription_id,
        o.kind,
        o.plan_id,
        o.plan_version,
        o.state,
        o.collection,
        o.currency_code,
        o.list_price_minor,
        o.credit_minor,
        o.amount_minor,
        o.charge_attempts,
        o.last_failure_reason,
        o.payment_id,
        o.created_by,
        o.create_time,
        o.expire_time,
        o.settle_time,
    )
    order = _row(record)
    assert order is not None
    return order


async def get(conn, order_id: uuid.UUID, *, lock: bool = False) -> Order | None:
    suffix = " FOR UPDATE" if lock else ""
    record = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM orders WHERE order_id = $1{suffix}", order_id
    )
    return _row(record)


async def settle(
    conn,
    order_id: uuid.UUID,
    state: str,
    now: dt.datetime,
    *,
    payment_id: str | None = None,
    failure_reason: str | None = None,
) -> Order:
    record = await conn.fetchrow(
        "UPDATE orders SET state = $2, settle_time = $3, payment_id = COALESCE($4, payment_id),"
        " last_failure_reason = COALESCE($5, last_failure_reason)"
        f" WHERE order_id = $1 RETURNING {_COLUMNS}",
        order_id,
        state,
        now,
        payment_id,
        failure_reason,
    )
    order = _row(record)
    assert order is not None
    return order
