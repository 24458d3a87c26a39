"""What points knows of storefront orders, and refunds (those waiting for their payment too)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from dataclasses import dataclass

from ..domain.rebates import RebateNote, RebateState
from .locks import LOCK_ORDER


@dataclass(frozen=True)
class Order:
    order_id: str
    member_id: uuid.UUID
    merchant_id: str
    currency_code: str
    paid_amount_minor: int
    multiplier: int
    rebate_points: int  # credited for the order
    rebate_reversed: int  # taken back by refunds so far
    refunded_minor: int  # paid money refunded so far
    points_hold_id: uuid.UUID | None
    points_used: int
    points_captured: int
    points_returned: int
    rebate_state: RebateState
    rebate_note: RebateNote  # why the rebate is short or none
    paid_at: dt.datetime | None
    completed_at: dt.datetime | None
    cancelled_at: dt.datetime | None


@dataclass(frozen=True)
class WaitingRefund:
    """A refund received before its order's payment."""

    refund_id: str
    refunded_amount_minor: int
    points_to_return: int
    currency_code: str


@dataclass(frozen=True)
class OrderRefund:
    """A refund as points has it: applied, waiting for the payment, or refused."""

    refund_id: str
    refunded_amount_minor: int
    points_to_return: int
    received_at: dt.datetime
    applied_at: dt.datetime | None
    refused_reason: str


ORDER_FIELDS = tuple(f.name for f in dataclasses.fields(Order))
ORDER_COLUMNS = ", ".join(ORDER_FIELDS)


async def get(conn, order_id: str) -> Order | None:
    row = await conn.fetchrow(f"SELECT {ORDER_COLUMNS} FROM orders WHERE order_id = $1", order_id)
    if row is None:
        return None
    values = {name: row[name] for name in ORDER_FIELDS}
    return Order(
        **{
            **values,
            "rebate_state": RebateState(values["rebate_state"]),
            "rebate_note": RebateNote(values["rebate_note"]),
        }
    )


async def lock_key(conn, order_id: str) -> None:
    """Serialise every event of one order (taken before the member's lock)."""
    await conn.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))", LOCK_ORDER, order_id)


async def ensure(conn, order_id: str, member_id: uuid.UUID) -> None:
    await conn.execute(
        "INSERT INTO orders (order_id, member_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        order_id,
        member_id,
    )


async def update(conn, order_id: str, **fields) -> None:
    sets = ", ".join(f"{name} = ${i}" for i, name in enumerate(fields, start=2))
    await conn.execute(f"UPDATE orders SET {sets} WHERE order_id = $1", order_id, *fields.values())


async def add_refund(
    conn,
    *,
    refund_id: str,
    order_id: str,
    member_id: uuid.UUID,
    amount_minor: int,
    points_to_return: int,
    currency_code: str,
) -> bool:
    """Record a refund once; False when this refund_id was seen already."""
    return bool(
        await conn.fetchval(
            "INSERT INTO order_refunds (refund_id, order_id, member_id, refunded_amount_minor,"
            " points_to_return, currency_code) VALUES ($1, $2, $3, $4, $5, $6)"
            " ON CONFLICT DO NOTHING RETURNING true",
            refund_id,
            order_id,
            member_id,
            amount_minor,
            points_to_return,
            currency_code,
        )
    )


async def waiting_refunds(conn, order_id: str) -> list[WaitingRefund]:
    rows = await conn.fetch(
        "SELECT refund_id, refunded_amount_minor, points_to_return, currency_code"
        " FROM order_refunds WHERE order_id = $1 AND applied_at IS NULL AND refused_reason = ''"
        " ORDER BY received_at, refund_id",
        order_id,
    )
    return [WaitingRefund(**r) for r in rows]


async def refuse_refund(conn, refund_id: str, reason: str) -> None:
    """A waiting refund that cannot apply to the payment that arrived: kept, never applied."""
    await conn.execute(
        "UPDATE order_refunds SET refused_reason = $2 WHERE refund_id = $1", refund_id, reason
    )


async def refunds_of(conn, order_id: str) -> list[OrderRefund]:
    rows = await conn.fetch(
        "SELECT refund_id, refunded_amount_minor, points_to_return, received_at, applied_at,"
        " refused_reason FROM order_refunds WHERE order_id = $1 ORDER BY received_at, refund_id",
        order_id,
    )
    return [OrderRefund(**r) for r in rows]


async def mark_refund_applied(conn, refund_id: str) -> None:
    await conn.execute(
        "UPDATE order_refunds SET applied_at = now() WHERE refund_id = $1", refund_id
    )
