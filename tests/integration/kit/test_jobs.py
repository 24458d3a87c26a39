"""Jobs under a Postgres advisory lock: one replica runs a job at a time, the loop outlives outages."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

from services.kit import db, jobs
from tests.support import tcp_proxy
from tests.support.waiting import wait_until


def _recording_job(name: str, seconds: float = 0.3, interval: float = 60.0) -> jobs.Job:
    async def run(pool) -> None:
        await asyncio.sleep(seconds)
        await pool.execute("INSERT INTO kit_test_effects (kind, key) VALUES ('job', $1)", name)

    return jobs.Job(name=name, interval_seconds=interval, run=run)


async def _runs(pool, name: str) -> int:
    return await pool.fetchval(
        "SELECT count(*) FROM kit_test_effects WHERE kind = 'job' AND key = $1", name
    )


async def test_two_concurrent_runs_of_one_job_run_it_once(kit_db, unique):
    job = _recording_job(unique("job"))
    outcomes = await asyncio.gather(jobs.run_locked(kit_db, job), jobs.run_locked(kit_db, job))
    assert sorted(outcomes) == [False, True]
    assert await _runs(kit_db, job.name) == 1
    # The lock is released afterwards: the next period runs again.
    assert await jobs.run_locked(kit_db, job) is True
    assert await _runs(kit_db, job.name) == 2


async def test_replicas_with_their_own_pools_run_a_job_once(kit_dsn, kit_db, unique):
    job = _recording_job(unique("job"))
    pools = [await db.create_pool(kit_dsn, 1, 2) for _ in range(4)]
    try:
        outcomes = await asyncio.gather(*(jobs.run_locked(p, job) for p in pools))
    finally:
        for pool in pools:
            await pool.close()
    assert outcomes.count(True) == 1
    assert await _runs(kit_db, job.name) == 1


async def test_different_jobs_do_not_exclude_each_other(kit_db, unique):
    first, second = _recording_job(unique("job")), _recording_job(unique("job"))
    outcomes = await asyncio.gather(jobs.run_locked(kit_db, first), jobs.run_locked(kit_db, second))
    assert outcomes == [True, True]


async def test_a_failing_job_releases_its_lock(kit_db, unique):
    name = unique("job")

    async def boom(pool) -> None:
        raise RuntimeError("the job failed")

    assert await jobs.run_locked(kit_db, jobs.Job(name, 60, boom)) is False
    assert await jobs.run_locked(kit_db, _recording_job(name, seconds=0)) is True


async def test_scheduler_runs_jobs_on_one_replica_at_a_time(kit_dsn, kit_db, unique):
    job = _recording_job(unique("job"), seconds=0.25, interval=0.1)
    pools = [await db.create_pool(kit_dsn, 1, 3) for _ in range(2)]
    schedulers = [jobs.Scheduler(pool, [job]) for pool in pools]
    for scheduler in schedulers:
        await scheduler.start()
    await asyncio.sleep(1.5)
    for scheduler in schedulers:
        await scheduler.stop()
    for pool in pools:
        await pool.close()
    runs = await kit_db.fetch(
        "SELECT created_at FROM kit_test_effects WHERE key = $1 ORDER BY created_at", job.name
    )
    assert 2 <= len(runs) <= 6  # each run takes 0.25 s and excludes the other replica's


async def test_scheduler_keeps_running_after_a_database_outage(kit_dsn, kit_db, unique):
    """A failed lock attempt (database away) skips one period; it must not end the job's loop."""
    parts = urlsplit(kit_dsn)
    proxy = await tcp_proxy.TcpProxy(parts.hostname, parts.port or 5432).start()
    via_proxy = parts._replace(netloc=f"{parts.username}@127.0.0.1:{proxy.port}").geturl()
    pool = await db.create_pool(via_proxy, 1, 2)
    job = _recording_job(unique("job"), seconds=0, interval=0.1)
    scheduler = jobs.Scheduler(pool, [job])
    await scheduler.start()
    try:
        await _wait_for_runs(kit_db, job.name, 1)
        await proxy.cut(refuse_seconds=1.0)
        await asyncio.sleep(1.2)
        before = await _runs(kit_db, job.name)
        await _wait_for_runs(kit_db, job.name, before + 2)
    finally:
        await asyncio.wait_for(scheduler.stop(), 10)
        await pool.close()
        await proxy.stop()


async def _wait_for_runs(pool, name: str, count: int, timeout: float = 10) -> None:
    async def ran() -> bool:
        return await _runs(pool, name) >= count

    await wait_until(ran, timeout, f"the job to run {count} times")
