"""Checkout holds (抵现): reserve, capture, release, time out."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from dataclasses import dataclass

from ..domain.holds import HoldState
from . import members
from .members import LockedMember


@dataclass(frozen=True)
class Hold:
    hold_id: uuid.UUID
    member_id: uuid.UUID
    order_id: str
    amount: int
    state: HoldState
    expires_at: dt.datetime
    created_at: dt.datetime


@dataclass(frozen=True)
class LockedHold:
    """A hold and its member's account, both locked (the member first, as everywhere)."""

    hold: Hold
    member: LockedMember


HOLD_FIELDS = tuple(f.name for f in dataclasses.fields(Hold))
HOLD_COLUMNS = ", ".join(HOLD_FIELDS)


def _hold(row) -> Hold:
    values = {name: row[name] for name in HOLD_FIELDS}
    return Hold(**{**values, "state": HoldState(values["state"])})


async def insert(
    conn,
    *,
    hold_id: uuid.UUID,
    member_id: uuid.UUID,
    order_id: str,
    amount: int,
    expires_at: dt.datetime,
    created_at: dt.datetime,
) -> Hold:
    """A new hold (written through `conn`, which may be a batch)."""
    hold = Hold(hold_id, member_id, order_id, amount, HoldState.HELD, expires_at, created_at)
    await conn.execute(
        "INSERT INTO holds (hold_id, member_id, order_id, amount, state, expires_at, created_at)"
        " VALUES ($1, $2, $3, $4, 'held', $5, $6)",
        hold.hold_id,
        hold.member_id,
        hold.order_id,
        hold.amount,
        hold.expires_at,
        hold.created_at,
    )
    return hold


async def get(conn, hold_id: uuid.UUID) -> Hold | None:
    row = await conn.fetchrow(f"SELECT {HOLD_COLUMNS} FROM holds WHERE hold_id = $1", hold_id)
    return _hold(row) if row else None


async def lock_with_member(
    conn, hold_id: uuid.UUID, expiring_until: dt.datetime
) -> LockedHold | None:
    """The hold and its member's row, both locked, and the member's points expiring by
    `expiring_until`, read after the locks (one round trip, see 0002_locks_with_balance);
    None for no such hold."""
    row = await conn.fetchrow("SELECT * FROM lock_hold($1, $2)", hold_id, expiring_until)
    if row is None:
        return None
    member = LockedMember(members.account(row["account"]), expiring_until, row["expiring_soon"])
    return LockedHold(_hold(row["hold"]), member)


async def settle(conn, hold: Hold, state: HoldState) -> Hold:
    """End a hold; returns it afterwards (written through `conn`, which may be a batch)."""
    await conn.execute(
        "UPDATE holds SET state = $2, settled_at = now() WHERE hold_id = $1", hold.hold_id, state
    )
    return dataclasses.replace(hold, state=state)


async def for_order(
    conn, member_id: uuid.UUID, order_id: str, states: tuple[HoldState, ...]
) -> list[Hold]:
    rows = await conn.fetch(
        f"SELECT {HOLD_COLUMNS} FROM holds WHERE member_id = $1 AND order_id = $2"
        " AND state = ANY($3::text[]) ORDER BY created_at",
        member_id,
        order_id,
        list(states),
    )
    return [_hold(r) for r in rows]


async def of_order(conn, order_id: str) -> list[Hold]:
    """Every hold of an order id, whoever's, oldest first."""
    rows = await conn.fetch(
        f"SELECT {HOLD_COLUMNS} FROM holds WHERE order_id = $1 ORDER BY created_at, hold_id",
        order_id,
    )
    return [_hold(r) for r in rows]


async def timed_out(conn, now: dt.datetime, limit: int) -> list[uuid.UUID]:
    """The holds still held past their expiry, earliest first."""
    rows = await conn.fetch(
        "SELECT hold_id FROM holds WHERE state = 'held' AND expires_at <= $1"
        " ORDER BY expires_at LIMIT $2",
        now,
        limit,
    )
    return [r["hold_id"] for r in rows]
