"""Rehearsals: the row and its counts, the members taken in chunks (read, never locked), and
the counting statement (rehearsal_sql.rehearsal)."""

from __future__ import annotations

import datetime as dt
import uuid

import asyncpg

from ..domain import periods
from ..domain.rules import RuleSet
from . import rehearsal_sql
from .settlements import CHUNK_SETTINGS, SETTLED_HERE, packs_param

_COLUMNS = (
    "rehearsal_id, rule_set_version, baseline_rule_set_version, period, state, members, tiers,"
    " packs, created_by, created_at, heartbeat_at, completed_at, failure_message"
)


async def fail_stale(conn: asyncpg.Connection, before: dt.datetime, at: dt.datetime) -> None:
    """A running rehearsal whose heartbeat stopped before `before` was cut short (a restart)."""
    await conn.execute(
        "UPDATE rehearsals SET state = 'failed', completed_at = $2,"
        " failure_message = 'stopped by a restart' WHERE state = 'running' AND heartbeat_at < $1",
        before,
        at,
    )


async def running(conn: asyncpg.Connection | asyncpg.Pool) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT {_COLUMNS} FROM rehearsals WHERE state = 'running'")


async def insert(
    conn: asyncpg.Connection,
    rehearsal_id: uuid.UUID,
    version: int,
    baseline: int,
    period: str,
    created_by: str,
    at: dt.datetime,
) -> asyncpg.Record | None:
    """The rehearsal, running; None when another one runs."""
    return await conn.fetchrow(
        "INSERT INTO rehearsals (rehearsal_id, rule_set_version, baseline_rule_set_version,"
        " period, state, created_by, created_at, heartbeat_at)"
        " VALUES ($1, $2, $3, $4, 'running', $5, $6, $6)"
        " ON CONFLICT ((true)) WHERE state = 'running' DO NOTHING"
        f" RETURNING {_COLUMNS}",
        rehearsal_id,
        version,
        baseline,
        period,
        created_by,
        at,
    )


async def get(
    conn: asyncpg.Connection | asyncpg.Pool, rehearsal_id: uuid.UUID
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM rehearsals WHERE rehearsal_id = $1", rehearsal_id
    )


async def page(
    conn: asyncpg.Connection | asyncpg.Pool,
    after: tuple[dt.datetime, uuid.UUID] | None,
    limit: int,
    version: int | None,
    state: str | None,
) -> list[asyncpg.Record]:
    """Newest first, after the previous page's last (created_at, id)."""
    return await conn.fetch(
        f"SELECT {_COLUMNS} FROM rehearsals"
        " WHERE ($1::timestamptz IS NULL OR (created_at, rehearsal_id) < ($1, $2::uuid))"
        " AND ($3::int IS NULL OR rule_set_version = $3)"
        " AND ($4::text IS NULL OR state = $4)"
        " ORDER BY created_at DESC, rehearsal_id DESC LIMIT $5",
        after[0] if after else None,
        after[1] if after else None,
        version,
        state,
        limit,
    )


async def chunk(
    conn: asyncpg.Connection | asyncpg.Pool,
    settle_time: dt.datetime,
    after: uuid.UUID | None,
    limit: int,
) -> list[uuid.UUID]:
    """The next members the settlement at `settle_time` would settle, in member order."""
    rows = await conn.fetch(
        "SELECT member_id FROM members m WHERE member_id > $1"
        f" AND {SETTLED_HERE.format(settle_time='$3')} ORDER BY member_id LIMIT $2",
        after or uuid.UUID(int=0),
        limit,
        settle_time,
    )
    return [r["member_id"] for r in rows]


async def count(
    conn: asyncpg.Connection,
    members: list[uuid.UUID],
    baseline: RuleSet,
    candidate: RuleSet,
    period: str,
    zone: str,
) -> list[asyncpg.Record]:
    """(kind, baseline, candidate, n) rows of one chunk (rehearsal_sql.rehearsal)."""
    settle_time = periods.settlement_instant(period, zone)
    window = periods.window_ending(settle_time, zone)
    cutoff = periods.period_of_index(periods.period_index(period) - periods.WINDOW_MONTHS)
    async with conn.transaction():
        await conn.execute(CHUNK_SETTINGS)
        return await conn.fetch(
            rehearsal_sql.rehearsal(baseline, candidate),
            members,
            window.start,
            settle_time,
            zone,
            baseline.currency,
            list(baseline.categories),
            list(baseline.account.profile_fields),
            candidate.currency,
            list(candidate.categories),
            list(candidate.account.profile_fields),
            cutoff,
            packs_param(baseline),
            packs_param(candidate),
            min(members),
            max(members),
        )


async def progress(
    conn: asyncpg.Connection | asyncpg.Pool,
    rehearsal_id: uuid.UUID,
    members: int,
    tiers: dict[str, int],
    packs: dict[str, int],
    at: dt.datetime,
) -> None:
    await conn.execute(
        "UPDATE rehearsals SET members = $2, tiers = $3, packs = $4, heartbeat_at = $5"
        " WHERE rehearsal_id = $1",
        rehearsal_id,
        members,
        tiers,
        packs,
        at,
    )


async def finish(
    conn: asyncpg.Connection | asyncpg.Pool,
    rehearsal_id: uuid.UUID,
    state: str,
    message: str,
    at: dt.datetime,
) -> None:
    await conn.execute(
        "UPDATE rehearsals SET state = $2, failure_message = $3, completed_at = $4"
        " WHERE rehearsal_id = $1 AND state = 'running'",
        rehearsal_id,
        state,
        message,
        at,
    )
