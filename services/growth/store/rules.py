"""Rule set versions: the JSON body (the RuleSet message's proto3 JSON) and its state."""

from __future__ import annotations

import datetime as dt

import asyncpg

_COLUMNS = (
    "version, state, body, description, created_by, created_at, activated_by, activated_at,"
    " retired_at"
)
# Every change of the versions takes this lock first (transaction-scoped): the next version
# number is read and used in one transaction, and two activations never both see the same
# version active (the second would break the one-active index instead of retiring it).
_WRITE_LOCK = "growth:rule_sets"


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


async def lock_versions(conn: asyncpg.Connection) -> None:
    """Hold the versions' write lock until the transaction ends."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", _WRITE_LOCK)


async def next_version(conn: asyncpg.Connection) -> int:
    """The latest version + 1 (under `lock_versions`)."""
    return int(await conn.fetchval("SELECT coalesce(max(version), 0) + 1 FROM rule_sets"))


async def add_draft(
    conn: asyncpg.Connection,
    version: int,
    body: dict,
    description: str,
    created_by: str,
    at: dt.datetime,
) -> asyncpg.Record:
    return await conn.fetchrow(
        "INSERT INTO rule_sets (version, state, body, description, created_by, created_at)"
        f" VALUES ($1, 'draft', $2, $3, $4, $5) RETURNING {_COLUMNS}",
        version,
        body,
        description,
        created_by,
        at,
    )


async def retire_active(conn: asyncpg.Connection, at: dt.datetime) -> int | None:
    """Retire the active version (under `lock_versions`); its number, None when none was."""
    return await conn.fetchval(
        "UPDATE rule_sets SET state = 'retired', retired_at = $1 WHERE state = 'active'"
        " RETURNING version",
        at,
    )


async def make_active(
    conn: asyncpg.Connection, version: int, activated_by: str, at: dt.datetime
) -> asyncpg.Record:
    """`version` active from `at` (the one active before retired first)."""
    return await conn.fetchrow(
        "UPDATE rule_sets SET state = 'active', activated_by = $2, activated_at = $3,"
        f" retired_at = NULL WHERE version = $1 RETURNING {_COLUMNS}",
        version,
        activated_by,
        at,
    )


async def page(
    conn: asyncpg.Connection | asyncpg.Pool, state: str | None, before: int | None, limit: int
) -> list[asyncpg.Record]:
    """Newest version first, below the page token's version, in `state` (None: any)."""
    return await conn.fetch(
        f"SELECT {_COLUMNS} FROM rule_sets"
        " WHERE ($1::text IS NULL OR state = $1) AND ($2::int IS NULL OR version < $2)"
        " ORDER BY version DESC LIMIT $3",
        state,
        before,
        limit,
    )
