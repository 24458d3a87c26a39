"""What the order events did: a payment applied once per order, each refund once."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass


@dataclass(frozen=True)
class Payment:
    order_id: str
    hold_ids: list[uuid.UUID]
    gift_card_amount_minor: int
    captured_minor: int
    problem: str
    description: str
    apply_time: dt.datetime


@dataclass(frozen=True)
class Refund:
    order_id: str
    refund_id: str
    gift_card_amount_minor: int
    returned_minor: int
    unreturned_minor: int
    state: str
    receive_time: dt.datetime
    apply_time: dt.datetime | None


@dataclass(frozen=True)
class Return:
    refund_id: str
    hold_id: uuid.UUID
    amount_minor: int
    bonus_minor: int


async def payment(conn, order_id: str) -> Payment | None:
    row = await conn.fetchrow(
        "SELECT order_id, hold_ids, gift_card_amount_minor, captured_minor, problem,"
        " description, apply_time FROM order_payments WHERE order_id = $1",
        order_id,
    )
    return Payment(**dict(row)) if row else None


async def record_payment(conn, p: Payment) -> bool:
    """False when the order's payment was applied already (a second order.paid)."""
    return bool(
        await conn.fetchval(
            "INSERT INTO order_payments (order_id, hold_ids, gift_card_amount_minor,"
            " captured_minor, problem, description, apply_time)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING RETURNING true",
            p.order_id,
            p.hold_ids,
            p.gift_card_amount_minor,
            p.captured_minor,
            p.problem,
            p.description,
            p.apply_time,
        )
    )


async def lock_payment(conn, order_id: str) -> bool:
    """Serialise an order's events (payment, refunds) on its payment row, if any."""
    return bool(
        await conn.fetchval(
            "SELECT true FROM order_payments WHERE order_id = $1 FOR UPDATE", order_id
        )
    )


async def refunds(conn, order_id: str) -> list[Refund]:
    rows = await conn.fetch(
        "SELECT order_id, refund_id, gift_card_amount_minor, returned_minor, unreturned_minor,"
        " state, receive_time, apply_time FROM order_refunds WHERE order_id = $1"
        " ORDER BY receive_time, refund_id",
        order_id,
    )
    return [Refund(**dict(r)) for r in rows]


async def add_refund(conn, order_id: str, refund_id: str, amount: int, now) -> bool:
    """False when this refund was received already."""
    return bool(
        await conn.fetchval(
            "INSERT INTO order_refunds (order_id, refund_id, gift_card_amount_minor, state,"
            " receive_time) VALUES ($1, $2, $3, 'waiting_for_payment', $4)"
            " ON CONFLICT DO NOTHING RETURNING true",
            order_id,
            refund_id,
            amount,
            now,
        )
    )


async def applied_refund(
    conn, order_id: str, refund_id: str, returned: int, unreturned: int, now
) -> None:
    await conn.execute(
        "UPDATE order_refunds SET state = 'applied', returned_minor = $3,"
        " unreturned_minor = $4, apply_time = $5 WHERE order_id = $1 AND refund_id = $2",
        order_id,
        refund_id,
        returned,
        unreturned,
        now,
    )


async def waiting_refunds(conn, order_id: str) -> list[Refund]:
    return [r for r in await refunds(conn, order_id) if r.state == "waiting_for_payment"]


async def add_return(
    conn, order_id: str, refund_id: str, hold_id: uuid.UUID, amount: int, bonus: int
) -> None:
    await conn.execute(
        "INSERT INTO value_returns (order_id, refund_id, hold_id, amount_minor, bonus_minor)"
        " VALUES ($1, $2, $3, $4, $5)",
        order_id,
        refund_id,
        hold_id,
        amount,
        bonus,
    )


async def returns(conn, order_id: str) -> list[Return]:
    rows = await conn.fetch(
        "SELECT refund_id, hold_id, amount_minor, bonus_minor FROM value_returns"
        " WHERE order_id = $1",
        order_id,
    )
    return [Return(**dict(r)) for r in rows]
