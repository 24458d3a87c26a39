"""Lots: expiring credits of a member; what holds took from them; expiry and notices."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from services.kit import ids

from ..domain.lots import Allocation, Lot, Taken


@dataclass(frozen=True)
class Expiring:
    """Points of a member's lots that expire at one moment (one business day's end)."""

    member_id: uuid.UUID
    expires_at: dt.datetime
    points: int


async def insert(
    conn, member_id: uuid.UUID, txn_id: uuid.UUID, amount: int, expires_at: dt.datetime
) -> uuid.UUID:
    lot_id = ids.new_id()
    await conn.execute(
        "INSERT INTO lots (lot_id, member_id, txn_id, amount, remaining, expires_at)"
        " VALUES ($1, $2, $3, $4, $4, $5)",
        lot_id,
        member_id,
        txn_id,
        amount,
        expires_at,
    )
    return lot_id


def lot(row) -> Lot:
    return Lot(row["lot_id"], row["remaining"], row["expires_at"])


async def spendable(conn, member_id: uuid.UUID, covering: int) -> list[Lot]:
    """The member's lots with points left, earliest expiry first, as many as cover `covering`
    points (the caller holds the lock; see spendable_lots in 0002_locks_with_balance)."""
    rows = await conn.fetch(
        "SELECT lot_id, remaining, expires_at FROM spendable_lots($1, $2)"
        " ORDER BY expires_at, lot_id",
        member_id,
        covering,
    )
    return [lot(r) for r in rows]


async def take(conn, allocations: list[Allocation]) -> None:
    await _change_remaining(conn, allocations, -1)


async def put_back(conn, allocations: list[Allocation]) -> None:
    await _change_remaining(conn, allocations, 1)


async def _change_remaining(conn, allocations: list[Allocation], sign: int) -> None:
    await conn.execute(
        "UPDATE lots l SET remaining = l.remaining + $3 * a.amount"
        " FROM unnest($1::uuid[], $2::bigint[]) AS a(lot_id, amount) WHERE l.lot_id = a.lot_id",
        [a.lot_id for a in allocations],
        [a.amount for a in allocations],
        sign,
    )


async def record_hold(conn, hold_id: uuid.UUID, allocations: list[Allocation]) -> None:
    await conn.execute(
        "INSERT INTO hold_lots (hold_id, lot_id, amount)"
        " SELECT $1, lot_id, amount FROM unnest($2::uuid[], $3::bigint[]) AS a(lot_id, amount)"
        " ON CONFLICT (hold_id, lot_id) DO UPDATE SET amount = hold_lots.amount + EXCLUDED.amount",
        hold_id,
        [a.lot_id for a in allocations],
        [a.amount for a in allocations],
    )


async def taken_by_hold(conn, hold_id: uuid.UUID) -> list[Taken]:
    rows = await conn.fetch(
        "SELECT h.lot_id, h.amount, h.returned, l.expires_at FROM hold_lots h"
        " JOIN lots l USING (lot_id) WHERE h.hold_id = $1",
        hold_id,
    )
    return [Taken(r["lot_id"], r["amount"], r["returned"], r["expires_at"]) for r in rows]


async def mark_returned(conn, hold_id: uuid.UUID, allocations: list[Allocation]) -> None:
    await conn.execute(
        "UPDATE hold_lots h SET returned = h.returned + a.amount"
        " FROM unnest($2::uuid[], $3::bigint[]) AS a(lot_id, amount)"
        " WHERE h.hold_id = $1 AND h.lot_id = a.lot_id",
        hold_id,
        [a.lot_id for a in allocations],
        [a.amount for a in allocations],
    )


async def members_with_expired(conn, now: dt.datetime, limit: int) -> list[uuid.UUID]:
    rows = await conn.fetch(
        "SELECT DISTINCT member_id FROM lots WHERE remaining > 0 AND expires_at <= $1 LIMIT $2",
        now,
        limit,
    )
    return [r["member_id"] for r in rows]


async def expired(conn, member_id: uuid.UUID, now: dt.datetime) -> list[Lot]:
    rows = await conn.fetch(
        "SELECT lot_id, remaining, expires_at FROM lots"
        " WHERE member_id = $1 AND remaining > 0 AND expires_at <= $2",
        member_id,
        now,
    )
    return [lot(r) for r in rows]


async def claim_expiring(conn, now: dt.datetime, until: dt.datetime, limit: int) -> list[Expiring]:
    """Mark lots expiring in (now, until] as notified; returns the points per member and day.

    One statement claims and groups, so a notice is sent once per lot even if two job runs
    overlap (the second finds the lots marked).
    """
    rows = await conn.fetch(
        "WITH due AS ("
        "  SELECT lot_id FROM lots WHERE remaining > 0 AND NOT expiring_notified"
        "  AND expires_at > $1 AND expires_at <= $2 ORDER BY expires_at LIMIT $3"
        "  FOR UPDATE SKIP LOCKED),"
        " marked AS (UPDATE lots l SET expiring_notified = true FROM due"
        "  WHERE l.lot_id = due.lot_id RETURNING l.member_id, l.remaining, l.expires_at)"
        " SELECT member_id, expires_at, sum(remaining)::bigint AS points FROM marked"
        " GROUP BY member_id, expires_at ORDER BY member_id, expires_at",
        now,
        until,
        limit,
    )
    return [Expiring(r["member_id"], r["expires_at"], r["points"]) for r in rows]


async def forget_hold(conn, hold_id: uuid.UUID) -> None:
    """A released hold took nothing (its points went back to the lots)."""
    await conn.execute("DELETE FROM hold_lots WHERE hold_id = $1", hold_id)
