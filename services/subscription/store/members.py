"""What subscription knows of members (identity's events)."""

from __future__ import annotations

import datetime as dt
import uuid

import asyncpg


async def status(conn: asyncpg.Connection, member_id: uuid.UUID, *, lock: bool = False) -> str:
    """active | frozen | closed (a member the service has heard nothing of is active).

    With `lock`, the status holds until the caller's transaction ends: identity's event that
    freezes or closes the member waits for it, then sees (and closes) what the caller started;
    without it a trial could start for a member being closed at the same instant. A member
    heard nothing of gets its row first, so there is a row to lock."""
    if not lock:
        return (
            await conn.fetchval("SELECT status FROM members WHERE member_id = $1", member_id)
            or "active"
        )
    await conn.execute(
        "INSERT INTO members (member_id, status, update_time) VALUES ($1, 'active', now())"
        " ON CONFLICT (member_id) DO NOTHING",
        member_id,
    )
    return await conn.fetchval(
        "SELECT status FROM members WHERE member_id = $1 FOR SHARE", member_id
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
