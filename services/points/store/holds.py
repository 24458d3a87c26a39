"""Checkout holds (抵现): reserve, capture, release, time out."""

from __future__ import annotations

import datetime as dt
import uuid

HOLD_FIELDS = ("hold_id", "member_id", "order_id", "amount", "state", "expires_at", "created_at")
HOLD_COLUMNS = ", ".join(HOLD_FIELDS)


async def insert(conn, *, hold_id, member_id, order_id: str, amount: int, expires_at, created_at):
    """A new hold; returns its row (written through `conn`, which may be a batch)."""
    await conn.execute(
        "INSERT INTO holds (hold_id, member_id, order_id, amount, state, expires_at, created_at)"
        " VALUES ($1, $2, $3, $4, 'held', $5, $6)",
        hold_id,
        member_id,
        order_id,
        amount,
        expires_at,
        created_at,
    )
    return {
        "hold_id": hold_id,
        "member_id": member_id,
        "order_id": order_id,
        "amount": amount,
        "state": "held",
        "expires_at": expires_at,
        "created_at": created_at,
    }


async def get(conn, hold_id: uuid.UUID):
    return await conn.fetchrow(f"SELECT {HOLD_COLUMNS} FROM holds WHERE hold_id = $1", hold_id)


async def lock_with_member(conn, hold_id: uuid.UUID, expiring_until):
    """The hold and its member's row, both locked (the member first, as everywhere), and the
    member's points expiring by `expiring_until`, read after the locks (one round trip, see
    0002_locks_with_balance). (hold, member with `expiring_soon`), or None for no such hold."""
    row = await conn.fetchrow("SELECT * FROM lock_hold($1, $2)", hold_id, expiring_until)
    if row is None:
        return None
    hold = {name: row["hold"][name] for name in HOLD_FIELDS}
    return hold, {**row["account"], "expiring_soon": row["expiring_soon"]}


async def settle(conn, hold: dict, state: str) -> dict:
    """End a hold; returns its row afterwards (written through `conn`, which may be a batch)."""
    await conn.execute(
        "UPDATE holds SET state = $2, settled_at = now() WHERE hold_id = $1", hold["hold_id"], state
    )
    return {**hold, "state": state}


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
