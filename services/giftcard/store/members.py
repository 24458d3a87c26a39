"""What giftcard knows of members (identity's events) and their stored-value rows."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass


async def status(conn, member_id: uuid.UUID) -> str:
    """active | frozen | closed (a member giftcard has heard nothing of is active)."""
    return (
        await conn.fetchval("SELECT status FROM members WHERE member_id = $1", member_id)
        or "active"
    )


async def set_status(conn, member_id: uuid.UUID, value: str, now: dt.datetime) -> str:
    """Record a member's status; a closed member stays closed. Returns the status kept."""
    return await conn.fetchval(
        "INSERT INTO members (member_id, status, update_time) VALUES ($1, $2, $3)"
        " ON CONFLICT (member_id) DO UPDATE SET"
        "   status = CASE WHEN members.status = 'closed' THEN 'closed' ELSE EXCLUDED.status END,"
        "   update_time = EXCLUDED.update_time"
        " RETURNING status",
        member_id,
        value,
        now,
    )


@dataclass(frozen=True)
class StoredValue:
    member_id: uuid.UUID
    currency_code: str
    principal_minor: int
    bonus_minor: int
    held_principal_minor: int
    held_bonus_minor: int
    update_time: dt.datetime


_SV = """member_id, currency_code, principal_minor, bonus_minor, held_principal_minor,
    held_bonus_minor, update_time"""


async def lock_stored_value(conn, member_id: uuid.UUID, currency_code: str) -> StoredValue:
    """The member's stored value, created empty if need be, its row locked."""
    await conn.execute(
        "INSERT INTO stored_value (member_id, currency_code) VALUES ($1, $2)"
        " ON CONFLICT DO NOTHING",
        member_id,
        currency_code,
    )
    row = await conn.fetchrow(
        f"SELECT {_SV} FROM stored_value WHERE member_id = $1 FOR UPDATE", member_id
    )
    return StoredValue(**dict(row))


async def stored_value(conn, member_id: uuid.UUID) -> StoredValue | None:
    row = await conn.fetchrow(f"SELECT {_SV} FROM stored_value WHERE member_id = $1", member_id)
    return StoredValue(**dict(row)) if row else None


async def unbind_all(conn, member_id: uuid.UUID, now: dt.datetime) -> list[uuid.UUID]:
    rows = await conn.fetch(
        "UPDATE cards SET member_id = NULL, bind_time = NULL, update_time = $2"
        " WHERE member_id = $1 RETURNING card_id",
        member_id,
        now,
    )
    return [r["card_id"] for r in rows]
