"""Every row of a set of tables, to prove that a refused call changed nothing."""

from __future__ import annotations

import asyncpg


async def snapshot(pool: asyncpg.Pool, *tables: str, **queries: str) -> dict:
    """{table: its rows} for `tables` (every column) and for `queries` (name=query: a table
    whose bookkeeping changes on its own, such as the outbox rows the relay marks published,
    is compared without it). A row is its sorted (column, repr(value)) pairs, and the rows are
    sorted: two reads of unchanged tables are equal whatever order the server returns them in,
    and values of any type (None, dicts, bytes) compare."""
    queries = {**{t: f"SELECT * FROM {t}" for t in tables}, **queries}
    state = {}
    for name, query in queries.items():
        rows = await pool.fetch(query)
        state[name] = sorted(tuple(sorted((k, repr(v)) for k, v in r.items())) for r in rows)
    return state
