"""Subscription orders: purchases, renewals and plan changes waiting for (or settled by) their
payment."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, fields

import asyncpg


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
    renews_end: dt.datetime | None = None  # for a renewal: the period end it renews
    last_charge_id: uuid.UUID | None = None  # the last charge requested of the provider


_NAMES = [f.name for f in fields(Order)]
_COLUMNS = ", ".join(_NAMES)
_INSERT = (
    f"INSERT INTO orders ({_COLUMNS})"
    f" VALUES ({', '.join(f'${i}' for i in range(1, len(_NAMES) + 1))})"
)
PENDING = "pending_payment"


def _row(record: asyncpg.Record | None) -> Order | None:
    return Order(**dict(record)) if record is not None else None


def _values(o: Order) -> tuple:
    return tuple(getattr(o, name) for name in _NAMES)


async def insert(conn: asyncpg.Connection, o: Order) -> Order:
    order = _row(await conn.fetchrow(f"{_INSERT} RETURNING {_COLUMNS}", *_values(o)))
    assert order is not None
    return order


async def insert_many(conn: asyncpg.Connection, orders: list[Order]) -> None:
    if orders:
        await conn.executemany(_INSERT, [_values(o) for o in orders])


async def get(conn, order_id: uuid.UUID, *, lock: bool = False) -> Order | None:
    suffix = " FOR UPDATE" if lock else ""
    record = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM orders WHERE order_id = $1{suffix}", order_id
    )
    return _row(record)


async def lock_free(conn, order_ids: list[uuid.UUID]) -> dict[uuid.UUID, Order]:
    """Lock the orders named that no one else holds (a payment being applied holds its order):
    the jobs leave the others for their next run rather than wait, since a payment locks its
    order before its subscription and the jobs lock the other way round."""
    if not order_ids:
        return {}
    records = await conn.fetch(
        f"SELECT {_COLUMNS} FROM orders WHERE order_id = ANY($1) FOR UPDATE SKIP LOCKED",
        order_ids,
    )
    return {o.order_id: o for o in map(_row, records) if o is not None}


async def pending_plan_change(conn, subscription_id: uuid.UUID) -> Order | None:
    return (await pending_plan_changes(conn, [subscription_id])).get(subscription_id)


async def pending_plan_changes(
    conn, subscription_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, Order]:
    """The PLAN_CHANGE order waiting for its payment, by subscription (at most one each)."""
    records = await conn.fetch(
        f"SELECT {_COLUMNS} FROM orders WHERE subscription_id = ANY($1) AND kind = 'plan_change'"
        " AND state = 'pending_payment'",
        list(subscription_ids),
    )
    orders = [_row(r) for r in records]
    return {o.subscription_id: o for o in orders if o is not None}


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


async def settle_many(
    conn, order_ids: list[uuid.UUID], state: str, now: dt.datetime
) -> list[Order]:
    """Settle the orders still pending among `order_ids` (the caller holds their locks)."""
    if not order_ids:
        return []
    records = await conn.fetch(
        "UPDATE orders SET state = $2, settle_time = $3"
        f" WHERE order_id = ANY($1) AND state = 'pending_payment' RETURNING {_COLUMNS}",
        order_ids,
        state,
        now,
    )
    return [o for o in map(_row, records) if o is not None]


async def charge_failed(conn, order_id: uuid.UUID, reason: str, expire_time: dt.datetime) -> Order:
    """A renewal charge failed: the order stays pending (retried) until `expire_time`."""
    record = await conn.fetchrow(
        "UPDATE orders SET last_failure_reason = $2, expire_time = $3"
        f" WHERE order_id = $1 RETURNING {_COLUMNS}",
        order_id,
        reason,
        expire_time,
    )
    order = _row(record)
    assert order is not None
    return order


async def charged_again(conn, charges: list[tuple[uuid.UUID, uuid.UUID]]) -> list[Order]:
    """Another charge requested for each (order_id, charge_id) still pending."""
    if not charges:
        return []
    order_ids, charge_ids = zip(*charges, strict=True)
    records = await conn.fetch(
        "UPDATE orders o SET charge_attempts = o.charge_attempts + 1, last_charge_id = c.charge_id"
        " FROM unnest($1::uuid[], $2::uuid[]) AS c(order_id, charge_id)"
        " WHERE o.order_id = c.order_id AND o.state = 'pending_payment'"
        f" RETURNING {', '.join(f'o.{n}' for n in _NAMES)}",
        list(order_ids),
        list(charge_ids),
    )
    return [o for o in map(_row, records) if o is not None]


async def lapse_due(conn, now: dt.datetime, limit: int) -> list[Order]:
    """Settle up to `limit` orders unpaid at their expire_time, as of that instant (the rule's
    time, not the job's): a renewal FAILED (its grace is over), any other EXPIRED. Orders held
    by someone (a payment being applied) are left to the next run."""
    records = await conn.fetch(
        "UPDATE orders o SET state = CASE WHEN o.kind = 'renewal' THEN 'failed' ELSE 'expired'"
        " END, settle_time = o.expire_time"
        " FROM (SELECT order_id FROM orders WHERE state = 'pending_payment'"
        "       AND expire_time <= $1 ORDER BY expire_time LIMIT $2 FOR UPDATE SKIP LOCKED) due"
        " WHERE o.order_id = due.order_id"
        f" RETURNING {', '.join(f'o.{n}' for n in _NAMES)}",
        now,
        limit,
    )
    return [o for o in map(_row, records) if o is not None]


@dataclass(frozen=True)
class OrderFilter:
    member_id: uuid.UUID | None = None
    subscription_id: uuid.UUID | None = None
    state: str | None = None
    kind: str | None = None


async def page(
    conn,
    where: OrderFilter,
    *,
    after: tuple[dt.datetime, uuid.UUID] | None,
    limit: int,
) -> list[Order]:
    """Orders matching `where`, newest first (create_time, then order_id), after the cursor."""
    at, order_id = after if after is not None else (None, None)
    records = await conn.fetch(
        f"SELECT {_COLUMNS} FROM orders"
        " WHERE ($1::uuid IS NULL OR member_id = $1)"
        "   AND ($2::uuid IS NULL OR subscription_id = $2)"
        "   AND ($3::text IS NULL OR state = $3) AND ($4::text IS NULL OR kind = $4)"
        "   AND ($5::timestamptz IS NULL OR (create_time, order_id) < ($5, $6))"
        " ORDER BY create_time DESC, order_id DESC LIMIT $7",
        where.member_id,
        where.subscription_id,
        where.state,
        where.kind,
        at,
        order_id,
        limit,
    )
    return [o for o in map(_row, records) if o is not None]
