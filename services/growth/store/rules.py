"""Rule set versions: the JSON body (the RuleSet message's proto3 JSON) and its state."""

from __future__ import annotations

import datetime as dt

import asyncpg

_COLUMNS = "version, state, body, description, created_by, created_at, activated_at"


async def active(conn: asyncpg.Connection | asyncpg.Pool) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT {_COLUMNS} FROM rule_sets WHERE state = 'active'")


async def get(conn: asyncpg.Connection | asyncpg.Pool, version: int) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT {_COLUMNS} FROM rule_sets WHERE version = $1", version)


async def add_first(
    conn: asyncpg.Connection | asyncpg.Pool, body: dict, created_by: str, at: dt.datetime
) -> None:
    """Version 1, active, unless any version exists (every replica may try at start)."""
    await conn.execute(
        "INSERT INTO rule_sets (version, state, body, description, created_by, created_at,"
        " activated_at) SELECT 1, 'active', $1, 'the default rule set', $2, $3, $3"
        " WHERE NOT EXISTS (SELECT 1 FROM rule_sets) ON CONFLICT DO NOTHING",
        body,
        created_by,
        at,
    )
