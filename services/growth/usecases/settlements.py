"""The monthly settlement: the due period's members in chunks, each chunk one transaction of
the set-based statement (store/settlement_sql.py).

Exactly once per period: the period's row fixes the rule set version when it begins; each
chunk locks the members it takes and skips those already settled; a member's score row is its
proof of settlement (a second run that raced for the same member writes nothing for it). A crash
loses at most the chunk in flight, which the next run (the job's next tick, or RunSettlement)
takes again from the start of the unsettled members: the result is the one an uninterrupted run
gives, since every chunk reads only facts dated before the settlement instant and each member's
own state from before its settlement.

Every run that finds its settlement unfinished says so in the audit trail (who set it off: the
job's "system" or the operator); the settlement's row counts its runs and keeps who began it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field

import asyncpg

from services.kit import audit, auth, errors, logging

from ..deps import GrowthDeps
from ..domain import periods
from ..domain.rules import Tier
from ..store import settlement_reads as reads
from ..store import settlements as store
from .rules import Rules

log = logging.get("growth.settlement")


@dataclass(frozen=True)
class Figures:
    """A settlement as its row, its runs in the audit trail and (`breakdown`) what it left tell
    it: everything the Settlement resource shows."""

    period: str
    state: str  # running | completed
    rule_set_version: int
    settle_time: dt.datetime
    window_start: dt.datetime
    started_at: dt.datetime
    completed_at: dt.datetime | None
    member_count: int
    settled: int
    run_count: int
    started_by: str
    gift_packs: int
    gift_points: int
    badges_awarded: int
    currency: str
    # The breakdown, read only when asked for (empty otherwise).
    tiers: dict[Tier, int] = field(default_factory=dict)  # every tier, in Tier order
    moves: dict[tuple[Tier, Tier], int] = field(default_factory=dict)  # in Tier order
    coupons: dict[str, int] = field(default_factory=dict)  # by code, in code order
    coupon_value_minor: int = 0


@dataclass(frozen=True)
class Settlements:
    deps: GrowthDeps
    rules: Rules
    # Runs set off by RunSettlement: kept here so that they are not collected while they run
    # (the event loop holds only weak references to tasks), and so that a shutdown may wait.
    _background: set[asyncio.Task] = field(default_factory=set, compare=False, repr=False)

    def due(self, now: dt.datetime | None = None) -> str:
        return periods.due_period(now or self.deps.now(), self.deps.zone)

    async def _open(
        self, conn: asyncpg.Connection, period: str, by: str | None = None
    ) -> asyncpg.Record:
        rules = await self.rules.active(conn)
        return await store.begin(
            conn,
            period,
            rules.version,
            periods.settlement_instant(period, self.deps.zone),
            by or auth.actor(),
            self.deps.now(),
        )

    async def begin(self, pool: asyncpg.Pool, period: str) -> asyncpg.Record:
        """The period's settlement row, begun with the active rule set unless it exists."""
        async with pool.acquire() as conn:
            return await self._open(conn, period)

    async def request(
        self, conn: asyncpg.Connection, period: str | None
    ) -> tuple[asyncpg.Record, bool]:
        """An operator's run of the due period (`period`, when given, must be it): its row,
        begun now unless it was, and whether this began it. In the caller's transaction.
        FAILED_PRECONDITION PERIOD_NOT_DUE, SETTLEMENT_COMPLETED."""
        due = self.due()
        if period and period != due:
            error = errors.failed_precondition(
                "PERIOD_NOT_DUE", f"{period} is not the period due, {due}"
            )
            error.metadata = {"due_period": due}
            raise error
        existed = await store.get(conn, due) is not None
        row = await self._open(conn, due)
        if row["state"] == "completed":
            error = errors.failed_precondition(
                "SETTLEMENT_COMPLETED", f"the settlement of {due} is completed"
            )
            error.metadata = {"period": due}
            raise error
        return row, not existed

    def in_background(self, work: Coroutine[object, object, object], name: str) -> asyncio.Task:
        """Run `work` in a task of its own, apart from the call that set it off (a cancelled
        call does not cancel it). What a job does not catch itself (the database away before
        it took its lock) is logged here: the job's next tick resumes the settlement."""
        task = asyncio.create_task(work, name=name)
        self._background.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning(
                "settlement_run_failed", task=task.get_name(), error=type(task.exception()).__name__
            )

    async def drain(self) -> None:
        """Stop the runs set off in the background (at shutdown, before the pool closes): a
        settlement is resumable, so the chunk in flight rolls back and the next run (any
        replica's job) takes it again."""
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)

    async def get(self, conn: asyncpg.Connection | asyncpg.Pool, period: str) -> asyncpg.Record:
        row = await store.get(conn, period)
        if row is None:
            raise errors.not_found("settlement", period)
        return row

    async def page(
        self, conn: asyncpg.Connection | asyncpg.Pool, before: str | None, limit: int
    ) -> list[asyncpg.Record]:
        return await store.page(conn, before, limit)

    async def figures(
        self,
        conn: asyncpg.Connection | asyncpg.Pool,
        rows: Sequence[asyncpg.Record],
        *,
        breakdown: bool,
    ) -> list[Figures]:
        """What the resource shows of each settlement. `breakdown` adds the tiers, moves and
        coupons, which aggregate the period's scores and grants: for one settlement, not for
        a page of them."""
        currencies: dict[int, str] = {}
        found = []
        for row in rows:
            period, settle_time = row["period"], row["settle_time"]
            settled = int(row["members_settled"])
            running = row["state"] == "running"
            version = row["rule_set_version"]
            if version not in currencies:
                currencies[version] = (await self.rules.version(conn, version)).currency
            extra: dict = {}
            if breakdown:
                counted = await reads.tiers(conn, period)
                coupons = await reads.coupons(conn, period, settle_time)
                extra = {
                    "tiers": {t: counted.get(t.value, 0) for t in Tier},
                    "moves": {
                        (Tier(a), Tier(b)): n
                        for (a, b), n in sorted(
                            (await reads.moves(conn, period)).items(),
                            key=lambda m: (Tier(m[0][0]).rank, Tier(m[0][1]).rank),
                        )
                    },
                    "coupons": {code: quantity for code, quantity, _ in coupons},
                    "coupon_value_minor": sum(value for _, _, value in coupons),
                }
            found.append(
                Figures(
                    period=period,
                    state=row["state"],
                    rule_set_version=version,
                    settle_time=settle_time,
                    window_start=periods.window_ending(settle_time, self.deps.zone).start,
                    started_at=row["started_at"],
                    completed_at=row["completed_at"],
                    member_count=settled
                    + (await reads.unsettled(conn, period, settle_time) if running else 0),
                    settled=settled,
                    run_count=max(row["runs"], 1),  # begun by RunSettlement: its run is on
                    started_by=row["started_by"],
                    gift_packs=int(row["gift_packs"]),
                    gift_points=int(row["gift_points"]),
                    badges_awarded=int(row["badges_awarded"]),
                    currency=currencies[version],
                    **extra,
                )
            )
        return found

    async def run(
        self,
        pool: asyncpg.Pool,
        period: str | None = None,
        *,
        batch: int | None = None,
        stop_after: int | None = None,
        by: str | None = None,
    ) -> asyncpg.Record:
        """Settle `period` (the due one by default) to the end, or resume it; returns the
        settlement row. `batch`: members per transaction (the setting by default);
        `stop_after` chunks: for tests of a run that stops half-way; `by`: who set the run
        off, for the audit trail (the caller; "system" for the job)."""
        period = period or self.due()
        async with pool.acquire() as conn, conn.transaction():
            row = await self._open(conn, period, by)
            if row["state"] == "completed":
                return row
            await store.count_run(conn, period)
            await audit.record(
                conn,
                actor=by or auth.actor(),
                action=reads.RUN_BEGUN,
                subject=reads.subject(period),
                detail={"rule_set_version": row["rule_set_version"]},
            )
        rules = await self.rules.version(pool, row["rule_set_version"])
        zone, batch = self.deps.zone, batch or self.deps.settings.settlement_batch
        source = self.deps.outbox.source
        budget = [stop_after] if stop_after is not None else None  # chunks left, shared

        async def chunks(skip_locked: bool) -> bool:
            """Settle chunk after chunk; True when no member was left to take."""
            after: uuid.UUID | None = None
            while budget is None or budget[0] > 0:
                if budget is not None:
                    budget[0] -= 1
                async with pool.acquire() as conn, conn.transaction():
                    members = await store.take_chunk(
                        conn, period, row["settle_time"], after, batch, skip_locked
                    )
                    if not members:
                        return True
                    result = await store.settle_chunk(conn, members, rules, period, zone, source)
                after = members[-1]
                log.debug("settlement_chunk", period=period, members=result.members)
            return False

        # Several workers at once, each taking the next members no other holds (the database
        # does the work: one worker per core it has); then one pass that skips nothing, so a
        # chunk another worker gave up is not missed, which completes the settlement.
        workers = self.deps.settings.settlement_workers
        done = await asyncio.gather(*(chunks(skip_locked=True) for _ in range(workers)))
        if all(done) and await chunks(skip_locked=False):
            async with pool.acquire() as conn, conn.transaction():
                if await store.complete(conn, period, self.deps.now()):
                    log.info("settlement_completed", period=period)
        found = await store.get(pool, period)
        assert found is not None
        return found
