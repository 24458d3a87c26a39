"""Checkout holds (抵现): reserve, capture, release, time out."""

from __future__ import annotations

import datetime as dt
import uuid

HOLD_COLUMNS = "hold_id, member_id, order_id, amount, state, expires_at, created_at"


async def insert(conn, *, hold_id, member_id, order_id: str, amount: int, expires_at):
    return await conn.fetchrow(
        "INSERT INTO holds (hold_id, member_id, order_id, amount, state, expires_at)"
        f" VALUES ($1, $2, $3, $4, 'held', $5) RETURNING {HOLD_COLUMNS}",
        hold_id,
        member_id,
        order_id,
        amount,
        expires_at,
    )


async def get(conn, hold_id: uuid.UUID, *, lock: bool = False):
    suffix = " FOR UPDATE" if lock else ""
    return await conn.fetchrow(
        f"SELECT {HOLD_COLUMNS} FROM holds WHERE hold_id = $1{suffix}", hold_id
    )


async def settle(conn, hold_id: uuid.UUID, state: str):
    return await conn.fetchrow(
        f"UPDATE holds SET state = $2, settled_at = now() WHERE hold_id = $1 RETURNING {HOLD_COLUMNS}",
        hold_id,
        state,
    )


async def for_order(conn, member_id: uuid.UUID, order_id: str, states: tuple[str, ...]):
    return await conn.fetch(
        f"SELECT {HOLD_COLUMNS} FROM holds WHERE member_id = $1 AND order_id = $2"
        " AND state = ANY($3::text[]) ORDER BY created_at",
        member_id,
        order_id,
        list(states),
    )


async def timed_out(conn, now: dt.datetime, limit: int):
    return await conn.fetch(
        "SELECT hold_id, member_id FROM holds WHERE state = 'held' AND expires_at <= $1"
        " ORDER BY expires_at LIMIT $2",
        now,
        limit,
    )
