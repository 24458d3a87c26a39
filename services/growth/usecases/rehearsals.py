"""Rehearsals: a candidate rule set over every member's stored facts, compared with the active
one, changing nothing.

Both sides settle the period from the members' states as they are now (tier, grace, the packs
granted), chunk by chunk in member order with the set-based scoring the settlement uses, and
only counts come back (rehearsal_sql.rehearsal). One runs at a time; it runs in the background
of the replica that was asked, writing its counts and a heartbeat after every chunk, so a
replica that died mid-way leaves a row whose heartbeat stopped: the next request marks it
FAILED ("stopped by a restart") and may begin."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections import Counter
from dataclasses import dataclass, field

import asyncpg

from services.kit import errors, ids, logging

from ..deps import GrowthDeps
from ..domain import periods
from ..domain import rehearsal as domain
from ..domain.rules import RuleSet, Tier
from ..store import rehearsals as store
from .rules import Rules

log = logging.get("growth.rehearsal")

# A running rehearsal writes after every chunk; this long without a write, its runner is gone.
STALE_AFTER = dt.timedelta(minutes=5)
BASELINE, CANDIDATE = "baseline", "candidate"


def figures(row: asyncpg.Record, baseline: RuleSet, candidate: RuleSet) -> domain.Rehearsal:
    """The figures of a rehearsal row (its counts so far)."""
    tiers = {}
    for key, n in row["tiers"].items():
        old, _, new = key.partition(">")
        tiers[(Tier(old), Tier(new))] = n
    packs: dict[str, dict[Tier, int]] = {BASELINE: {}, CANDIDATE: {}}
    for key, n in row["packs"].items():
        side, _, tier = key.partition(":")
        packs[side][Tier(tier)] = n
    return domain.from_counts(tiers, packs[BASELINE], packs[CANDIDATE], baseline, candidate)


@dataclass
class Rehearsals:
    deps: GrowthDeps
    rules: Rules
    # the runs of this replica: kept so they are not collected, cancelled at stop
    _tasks: set[asyncio.Task] = field(default_factory=set)

    async def begin(
        self, conn: asyncpg.Connection, version: int, period: str, created_by: str
    ) -> asyncpg.Record:
        """The rehearsal row, running (the caller starts it with `start` once committed).
        Errors: RULE_SET_NOT_FOUND, REHEARSAL_RUNNING, a period after the due one."""
        now = self.deps.now()
        due = periods.due_period(now, self.deps.zone)
        if period > due:
            raise errors.invalid([("period", f"at most the due period {due}")])
        await self.rules.version(conn, version)  # NOT_FOUND before anything else
        baseline = await self.rules.active(conn)
        await store.fail_stale(conn, now - STALE_AFTER, now)
        row = await store.insert(
            conn, ids.new_id(), version, baseline.version, period, created_by, now
        )
        if row is None:
            other = await store.running(conn)
            error = errors.failed_precondition("REHEARSAL_RUNNING", "one rehearsal runs at a time")
            error.metadata = {"rehearsal_id": str(other["rehearsal_id"]) if other else ""}
            raise error
        return row

    def start(self, pool: asyncpg.Pool, row: asyncpg.Record) -> None:
        task = asyncio.get_running_loop().create_task(self.run(pool, row["rehearsal_id"]))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def run(self, pool: asyncpg.Pool, rehearsal_id: uuid.UUID, batch: int = 0) -> None:
        """Count every member, chunk by chunk; the row ends COMPLETED, or FAILED with why."""
        try:
            await self._count(pool, rehearsal_id, batch or self.deps.settings.settlement_batch)
        except asyncio.CancelledError:
            await store.finish(
                pool, rehearsal_id, "failed", "stopped by a restart", self.deps.now()
            )
            raise
        except Exception as exc:
            log.exception("rehearsal_failed", rehearsal_id=str(rehearsal_id))
            await store.finish(
                pool, rehearsal_id, "failed", f"{type(exc).__name__}", self.deps.now()
            )

    async def _count(self, pool: asyncpg.Pool, rehearsal_id: uuid.UUID, batch: int) -> None:
        row = await store.get(pool, rehearsal_id)
        assert row is not None
        baseline = await self.rules.version(pool, row["baseline_rule_set_version"])
        candidate = await self.rules.version(pool, row["rule_set_version"])
        tiers: Counter[str] = Counter()
        packs: Counter[str] = Counter()
        counted_members = [0]
        # One reader hands out chunks in member order; the workers count them at once (the
        # database does the work: as many as settlement workers, about one per core).
        chunks: asyncio.Queue[list[uuid.UUID] | None] = asyncio.Queue(maxsize=2)
        workers = self.deps.settings.settlement_workers

        async def read() -> None:
            after: uuid.UUID | None = None
            settle_time = periods.settlement_instant(row["period"], self.deps.zone)
            while chunk := await store.chunk(pool, settle_time, after, batch):
                await chunks.put(chunk)
                after = chunk[-1]
            for _ in range(workers):
                await chunks.put(None)

        async def count() -> None:
            while (chunk := await chunks.get()) is not None:
                async with pool.acquire() as conn:
                    counted = await store.count(
                        conn, chunk, baseline, candidate, row["period"], self.deps.zone
                    )
                for kind, old, new, n in counted:
                    if kind == "tiers":
                        tiers[f"{old}>{new}"] += n
                    else:
                        packs[f"{kind.removesuffix('_gifts')}:{old}"] += n
                counted_members[0] += len(chunk)
                await store.progress(
                    pool,
                    rehearsal_id,
                    counted_members[0],
                    dict(tiers),
                    dict(packs),
                    self.deps.now(),
                )

        try:
            async with asyncio.TaskGroup() as group:  # one failing stops the others
                group.create_task(read())
                for _ in range(workers):
                    group.create_task(count())
        except* Exception as failed:
            raise failed.exceptions[0] from None
        # the workers' writes may have landed out of order: the final counts last
        now = self.deps.now()
        await store.progress(pool, rehearsal_id, counted_members[0], dict(tiers), dict(packs), now)
        await store.finish(pool, rehearsal_id, "completed", "", now)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def get(self, conn: asyncpg.Connection, rehearsal_id: uuid.UUID) -> asyncpg.Record:
        row = await store.get(conn, rehearsal_id)
        if row is None:
            raise errors.not_found("rehearsal", str(rehearsal_id))
        return row

    async def page(
        self,
        conn: asyncpg.Connection,
        after: tuple[dt.datetime, uuid.UUID] | None,
        limit: int,
        version: int | None,
        state: str | None,
    ) -> list[asyncpg.Record]:
        return await store.page(conn, after, limit, version, state)
