"""The monthly settlement: the due period's members in chunks, each chunk one transaction of
the set-based statement (store/settlement_sql.py).

Exactly once per period: the period's row fixes the rule set version when it begins; each
chunk locks the members it takes and skips those already settled; a member's score row is its
proof of settlement (a second run that raced for the same member writes nothing for it). A crash
loses at most the chunk in flight, which the next run (the job's next tick, or RunSettlement)
takes again from the start of the unsettled members: the result is the one an uninterrupted run
gives, since every chunk reads only facts dated before the settlement instant and each member's
own state from before its settlement.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

import asyncpg

from services.kit import logging

from ..deps import GrowthDeps
from ..domain import periods
from ..store import settlements as store
from .rules import Rules

log = logging.get("growth.settlement")


@dataclass(frozen=True)
class Settlements:
    deps: GrowthDeps
    rules: Rules

    def due(self, now: dt.datetime | None = None) -> str:
        return periods.due_period(now or self.deps.now(), self.deps.zone)

    async def begin(self, pool: asyncpg.Pool, period: str) -> asyncpg.Record:
        """The period's settlement row, begun with the active rule set unless it exists."""
        zone = self.deps.zone
        async with pool.acquire() as conn:
            rules = await self.rules.active(conn)
            return await store.begin(
                conn, period, rules.version, periods.settlement_instant(period, zone)
            )

    async def run(
        self,
        pool: asyncpg.Pool,
        period: str | None = None,
        *,
        batch: int | None = None,
        stop_after: int | None = None,
    ) -> asyncpg.Record:
        """Settle `period` (the due one by default) to the end, or resume it; returns the
        settlement row. `batch`: members per transaction (the setting by default);
        `stop_after` chunks: for tests of a run that stops half-way."""
        period = period or self.due()
        row = await self.begin(pool, period)
        if row["state"] == "completed":
            return row
        rules = await self.rules.version(pool, row["rule_set_version"])
        zone, batch = self.deps.zone, batch or self.deps.settings.settlement_batch
        source = self.deps.outbox.source
        after: uuid.UUID | None = None
        chunks = 0
        while stop_after is None or chunks < stop_after:
            async with pool.acquire() as conn, conn.transaction():
                members = await store.take_chunk(conn, period, after, batch)
                if not members:
                    if await store.complete(conn, period, self.deps.now()):
                        log.info("settlement_completed", period=period)
                    break
                result = await store.settle_chunk(conn, members, rules, period, zone, source)
            after = members[-1]
            chunks += 1
            log.debug("settlement_chunk", period=period, members=result.members)
        found = await store.get(pool, period)
        assert found is not None
        return found
