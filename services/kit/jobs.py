"""Periodic jobs: every replica schedules them, a Postgres advisory lock lets one run at a time."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg

from . import logging, metrics

log = logging.get("kit.jobs")


@dataclass(frozen=True)
class Job:
    name: str
    interval_seconds: float
    run: Callable[[asyncpg.Pool], Awaitable[object]]  # what it returns (a count) is not used


async def run_locked(pool: asyncpg.Pool, job: Job) -> bool:
    """Run `job` once if no other replica is running it; False when it was skipped."""
    async with pool.acquire() as conn:
        if not await conn.fetchval("SELECT pg_try_advisory_lock(hashtext($1))", f"job:{job.name}"):
            metrics.JOB_RUNS.labels(job.name, "skipped").inc()
            return False
        try:
            await job.run(pool)
            metrics.JOB_RUNS.labels(job.name, "ok").inc()
            return True
        except Exception:
            metrics.JOB_RUNS.labels(job.name, "error").inc()
            log.exception("job_failed", job=job.name)
            return False
        finally:
            # A failed unlock must not hide the job's outcome: a dead session holds no lock, and
            # a live one is closed (the pool keeps sessions as they are: see db.create_pool).
            try:
                await conn.fetchval("SELECT pg_advisory_unlock(hashtext($1))", f"job:{job.name}")
            except Exception as exc:
                log.warning("job_unlock_failed", job=job.name, error=type(exc).__name__)
                conn.terminate()


class Scheduler:
    def __init__(self, pool: asyncpg.Pool, jobs: list[Job]) -> None:
        self.pool = pool
        self.jobs = jobs
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task] = []

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._loop(job), name=f"job-{job.name}") for job in self.jobs
        ]

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _loop(self, job: Job) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), job.interval_seconds)
            if self._stop.is_set():
                break
            try:
                await run_locked(self.pool, job)
            except Exception as exc:
                # The database was away (no connection, no lock): skip this period, not the job.
                metrics.JOB_RUNS.labels(job.name, "error").inc()
                log.warning("job_not_started", job=job.name, error=type(exc).__name__)
