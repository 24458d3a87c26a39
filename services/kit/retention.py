"""Retention of the kit's bookkeeping: idempotency keys, inbox records and published outbox rows.

Without it these tables grow for ever. The windows are far longer than any retry or redelivery:
a request replayed after its key is gone would run again, so keep `idempotency_days` above the
longest client retry horizon.
"""

from __future__ import annotations

import asyncpg

from . import jobs, logging

log = logging.get("kit.retention")

_DELETES = {
    "idempotency": "DELETE FROM idempotency WHERE created_at < now() - make_interval(days => $1)",
    "inbox": "DELETE FROM inbox WHERE received_at < now() - make_interval(days => $1)",
    "outbox": "DELETE FROM outbox WHERE published_at < now() - make_interval(days => $1)",
}


async def prune(pool: asyncpg.Pool, days: dict[str, int]) -> dict[str, int]:
    """Delete rows older than each table's window; returns how many went per table."""
    removed = {}
    for table, sql in _DELETES.items():
        status = await pool.execute(sql, days[table])
        removed[table] = int(status.split()[-1])
    log.info("retention_pruned", **removed)
    return removed


def job(days: dict[str, int], interval_seconds: float = 3600) -> jobs.Job:
    async def run(pool: asyncpg.Pool) -> None:
        await prune(pool, days)

    return jobs.Job("kit-retention", interval_seconds, run)
