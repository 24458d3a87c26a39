"""Subscription renewal benchmark: BENCH_RENEWALS (100,000) subscriptions whose periods end
within the renewal lead at once, and the renewal job requesting their charges.

`one_run`: the job in this process, as a replica runs it (a RENEWAL order, the attempt counted,
a charge.requested in the outbox per subscription; the relay is not running, so the figure is
the job's own). `two_replicas`: the same subscriptions made due again and the job run by two
processes at once (`python -m services.subscription run-jobs`, bypassing the kit's job lock
that would otherwise keep one of them waiting), then checked in the database: every
subscription charged exactly once, the outbox holding one request each. The subscriptions are
written straight to the database (a plan, a subscription and its paid term each, as the
purchase leaves them): arranging 100,000 through the RPCs would measure the purchase, not the
job. Each phase says where the machine's CPU went (on a machine shared with other work, `other`
is that work). BENCH_RENEWALS sets the count.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
import sys

from services.identity.app import IdentityApp
from services.subscription.app import SubscriptionApp
from tests.perf.common import Clock, CpuMeter, pids_named, write
from tests.perf.setup import child_env, migrated_app, open_pool
from tests.perf.subscription_claims_bench import code_keys
from tests.support import harness

RENEWALS = int(os.environ.get("BENCH_RENEWALS", "100000"))
PLAN = "bench_yearly"
CHARGE = "loyalty.subscription.charge.requested.v1"


async def arrange(pool, count: int, end: dt.datetime) -> float:
    """`count` active subscriptions of one yearly plan, auto-renewing, their term ending at
    `end`; returns the seconds it took."""
    with Clock() as clock:
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO plans (plan_id, version, display_name, kind, price_minor,"
                " currency_code, points_multiplier, member_discount_bps, on_sale, created_by,"
                " create_time) VALUES ($1, 1, 'Bench yearly', 'yearly', 14800, 'CNY', 10, 500,"
                " true, 'bench', $2)",
                PLAN,
                end - dt.timedelta(days=366),
            )
            await conn.execute(
                "INSERT INTO subscriptions (subscription_id, member_id, state, order_plan_id,"
                " order_plan_version, ordered_at, auto_renew, renewal_plan_id,"
                " renewal_plan_version, anchor_day, start_time, update_time)"
                " SELECT gen_random_uuid(), gen_random_uuid(), 'active', $1, 1, $2, true, $1, 1,"
                " $3, $2, $2 FROM generate_series(1, $4)",
                PLAN,
                end - dt.timedelta(days=365),
                end.day,
                count,
            )
            await conn.execute(
                "INSERT INTO terms (subscription_id, sequence, plan_id, plan_version, channel,"
                " start_time, end_time, paid_minor, paid_at)"
                " SELECT subscription_id, 1, $1, 1, 'purchase', $2, $3, 14800, $2"
                " FROM subscriptions",
                PLAN,
                end - dt.timedelta(days=365),
                end,
            )
    return round(clock.seconds, 3)


async def made_due_again(pool) -> None:
    """Back to no charge requested: the same subscriptions due again for the next phase."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("TRUNCATE orders, outbox")
        await conn.execute(
            "UPDATE subscriptions SET attempts = 0, last_attempt_at = NULL, order_id = NULL"
        )
    async with pool.acquire() as conn:
        await conn.execute("VACUUM ANALYZE subscriptions")


async def charged_once(pool, count: int) -> dict:
    """What the database says: one renewal order, one counted attempt and one charge request
    per subscription, none twice."""
    row = await pool.fetchrow(
        "SELECT (SELECT count(*) FROM orders WHERE kind = 'renewal') AS orders,"
        " (SELECT count(DISTINCT subscription_id) FROM orders) AS subscriptions_charged,"
        " (SELECT coalesce(max(charge_attempts), 0) FROM orders) AS most_attempts,"
        " (SELECT count(*) FROM subscriptions WHERE attempts <> 1) AS not_counted_once,"
        " (SELECT count(*) FROM outbox WHERE event_type = $1) AS charge_requests,"
        " (SELECT count(DISTINCT subject) FROM outbox WHERE event_type = $1) AS orders_requested",
        CHARGE,
    )
    checked = dict(row)
    checked["each_charged_once"] = (
        checked["orders"]
        == checked["subscriptions_charged"]
        == checked["charge_requests"]
        == checked["orders_requested"]
        == count
        and checked["most_attempts"] == 1
        and checked["not_counted_once"] == 0
    )
    return checked


async def run_jobs_process(settings) -> asyncio.subprocess.Process:
    """`python -m services.subscription run-jobs` on the bench's database (its output piped)."""
    env = child_env(SUBSCRIPTION_DATABASE_URL=settings.dsn(), **code_keys(settings))
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.subscription",
        "run-jobs",
        env=env,
        stdout=asyncio.subprocess.PIPE,
    )


def rate(count: int, seconds: float) -> dict:
    return {
        "charges": count,
        "seconds": round(seconds, 3),
        "per_second": round(count / seconds, 1) if seconds else 0,
    }


async def main() -> None:
    identity = IdentityApp(harness.settings(IdentityApp))  # the subscription settings need it
    async with contextlib.AsyncExitStack() as stack:
        app = await migrated_app(stack, SubscriptionApp, identity=identity, pool_max=4)
        settings = app.settings
        results: dict = {"subscriptions": RENEWALS, "batch": settings.job_batch}
        pool = await open_pool(stack, settings.dsn())
        # Due now: the periods end within the renewal lead (a day).
        end = dt.datetime.now(dt.UTC) + dt.timedelta(hours=12)
        results["arrange_seconds"] = await arrange(pool, RENEWALS, end)
        async with pool.acquire() as conn:
            await conn.execute("VACUUM ANALYZE")

        def meter() -> CpuMeter:
            # A job process started and ended within the phase is not seen by the meter:
            # in `two_replicas` the jobs' CPU is in `other`.
            return CpuMeter(
                {
                    "bench": lambda: [os.getpid()],
                    "postgres": lambda: pids_named("postgres", "postmaster"),
                }
            )

        with meter() as cpu, Clock() as clock:
            count = await app.usecases.renewals.request_due(pool)
        results["one_run"] = {**rate(count, clock.seconds), "cpu_cores": cpu.cores}
        results["one_run"]["check"] = await charged_once(pool, RENEWALS)

        await made_due_again(pool)
        processes: list[asyncio.subprocess.Process] = []
        with meter() as cpu, Clock() as clock:
            processes.extend([await run_jobs_process(settings) for _ in range(2)])
            outputs = [await p.communicate() for p in processes]
        said = [json.loads(out.decode().strip().splitlines()[-1]) for out, _ in outputs]
        split = [s["renewal_charges_requested"] for s in said]
        results["two_replicas"] = {
            **rate(sum(split), clock.seconds),
            "charges_by_replica": split,
            "cpu_cores": cpu.cores,
            "check": await charged_once(pool, RENEWALS),
            "note": "seconds include starting both processes",
        }
    write("subscription_renewal", results)


if __name__ == "__main__":
    asyncio.run(main())
