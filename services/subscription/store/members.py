"""What subscription knows of members (identity's events)."""

from __future__ import annotations

import datetime as dt
import uuid

import asyncpg


async def status(conn: asyncpg.Connection, member_id: uuid.UUID) -> str:
    """active | frozen | closed (a member the service has heard nothing of is active)."""
    return (
        await conn.fetchval("SELECT status FROM members WHERE member_id = $1", member_id)
        or "active"
    )


async def set_status(
    conn: asyncpg.Connection, member_id: uuid.UUID, value: str, now: dt.datetime
) -> str:
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
