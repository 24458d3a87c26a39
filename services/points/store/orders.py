"""What points knows of storefront orders, and refunds (those waiting for their payment too)."""

from __future__ import annotations

import uuid

from .locks import LOCK_ORDER

ORDER_COLUMNS = (
    "order_id, member_id, merchant_id, currency_code, paid_amount_minor, multiplier,"
    " rebate_points, rebate_reversed, refunded_minor, points_hold_id, points_used,"
    " points_captured, points_returned, rebate_state, paid_at, completed_at, cancelled_at"
)


async def get(conn, order_id: str):
    return await conn.fetchrow(f"SELECT {ORDER_COLUMNS} FROM orders WHERE order_id = $1", order_id)


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


async def add_refund(conn, *, refund_id, order_id, member_id, amount_minor, points_to_return):
    """Record a refund once; False when this refund_id was seen already."""
    return bool(
        await conn.fetchval(
            "INSERT INTO order_refunds (refund_id, order_id, member_id, refunded_amount_minor,"
            " points_to_return) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING"
            " RETURNING true",
            refund_id,
            order_id,
            member_id,
            amount_minor,
            points_to_return,
        )
    )


async def waiting_refunds(conn, order_id: str):
    return await conn.fetch(
        "SELECT refund_id, refunded_amount_minor, points_to_return FROM order_refunds"
        " WHERE order_id = $1 AND applied_at IS NULL ORDER BY received_at, refund_id",
        order_id,
    )


async def mark_refund_applied(conn, refund_id: str) -> None:
    await conn.execute(
        "UPDATE order_refunds SET applied_at = now() WHERE refund_id = $1", refund_id
    )
