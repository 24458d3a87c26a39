"""Points benchmark: earn and reserve+capture over gRPC next to pgbench on the same server.

The service runs as separate replica processes; the load generator is this one Python process.
So that a slow load generator is not mistaken for a slow service, a no-op RPC (grpc health
Check, through the same channels, metadata and server interceptor) is measured the same way,
and every phase reports where the machine's CPU went (load generator, replicas, PostgreSQL,
broker, other). Settings: BENCH_SECONDS (10), BENCH_REPLICAS (2), BENCH_PHASES (all; comma
separated names of PHASES).
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid

from grpc_health.v1 import health_pb2

from loyalty.points.v1 import points_service_pb2 as pb
from loyalty.points.v1 import points_service_pb2_grpc as pb_grpc
from loyalty.points.v1 import resources_pb2 as res
from services.points.app import PointsApp
from services.points.store import members as member_store
from services.points.store import reconcile
from tests.perf.common import (
    CLIENTS,
    HOT_CLIENTS,
    SECONDS,
    Clock,
    CpuMeter,
    Load,
    closed_loop,
    rates,
    ratio,
    results_name,
    write,
)
from tests.perf.setup import REPLICAS, ServiceBench, noop_max, pgbench

MEMBERS = 500
SCOPES = ["points:read", "points:grant", "points:spend", "points:adjust", "points:admin"]


async def open_loop(make_call, rate: float, seconds: float, meter: CpuMeter) -> dict:
    """Calls started at a fixed arrival rate (not slowed by the server): honest latencies."""
    load = Load()
    tasks = []
    with Clock() as clock, meter:
        begin = time.perf_counter()
        total = int(rate * seconds)
        for i in range(total):
            delay = begin + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(load.call(make_call, i % MEMBERS, i)))
        started_late = max(0.0, time.perf_counter() - begin - seconds)
        await asyncio.gather(*tasks)
    out = load.result(clock.seconds, meter)
    # A load generator that cannot keep the arrival rate is measuring itself.
    out["arrivals_behind_schedule_ms"] = round(started_late * 1000, 1)
    return out


class Bench(ServiceBench):
    """Identity (for tokens), a fresh points database, the replicas, stubs and the calls."""

    app_class = PointsApp

    async def _start(self) -> None:
        await super()._start()
        self.stub = self.stubs(pb_grpc.PointsServiceStub)
        self.meta = self.token("bench", "service", SCOPES)
        self.members = [uuid.uuid4() for _ in range(MEMBERS)]
        async with self.pool.acquire() as conn:
            for member in self.members:
                await member_store.ensure(conn, member)
                await member_store.update(
                    conn, member, registered=True, sign_up_bonus_paid=True, status="active"
                )
        await self.stub.UpsertEarningRule(
            pb.UpsertEarningRuleRequest(
                request_id=str(uuid.uuid4()),
                rule=res.EarningRule(
                    rule_code="bench_task", kind=res.EARNING_RULE_KIND_TASK, points=0, enabled=True
                ),
            ),
            metadata=self.meta,
        )
        self.hot = str(self.members[0])

    # --- the calls ------------------------------------------------------------------------
    async def noop(self, n: int, i: int):
        await self.health.Check(health_pb2.HealthCheckRequest(), metadata=self.meta)

    async def earn(self, n: int, i: int):
        await self.stub.Grant(
            pb.GrantRequest(
                request_id=str(uuid.uuid4()),
                member_id=str(self.members[n % MEMBERS]),
                rule_code="bench_task",
                points=100,
                reference=f"bench-{n}-{i}",
            ),
            metadata=self.meta,
        )

    async def reserve_capture(self, n: int, i: int):
        response = await self.stub.ReserveHold(
            pb.ReserveHoldRequest(
                request_id=str(uuid.uuid4()),
                member_id=str(self.members[n % MEMBERS]),
                order_id=f"order-{n}-{i}-{uuid.uuid4().hex[:6]}",
                points=10,
                order_amount_minor=10_000,
            ),
            metadata=self.meta,
        )
        await self.stub.CaptureHold(
            pb.CaptureHoldRequest(request_id=str(uuid.uuid4()), hold_id=response.hold.hold_id),
            metadata=self.meta,
        )

    async def hot_member(self, n: int, i: int):
        if n % 2:
            await self.stub.Grant(
                pb.GrantRequest(
                    request_id=str(uuid.uuid4()),
                    member_id=self.hot,
                    rule_code="bench_task",
                    points=5,
                    reference=f"hot-{n}-{i}",
                ),
                metadata=self.meta,
            )
        else:
            await self.stub.Redeem(
                pb.RedeemRequest(
                    request_id=str(uuid.uuid4()),
                    member_id=self.hot,
                    points=1,
                    catalogue_item="coupon-1",
                    reference=f"hot-{n}-{i}",
                ),
                metadata=self.meta,
            )


# --- phases: each adds its figures to `results` --------------------------------------------
async def noop(bench: Bench, results: dict) -> None:
    results["noop_max"] = await noop_max(bench, CLIENTS)


async def earn(bench: Bench, results: dict) -> None:
    earn_max = await closed_loop(bench.earn, CLIENTS, SECONDS, bench.meter())
    results["earn_max"] = {**earn_max, "clients": CLIENTS}
    target = 0.7 * earn_max["per_second"]
    results["earn_at_70_percent"] = {
        **await open_loop(bench.earn, target, SECONDS, bench.meter()),
        "target_per_second": round(target, 1),
        "goal_p99_ms": 50,
    }


async def reserve_capture(bench: Bench, results: dict) -> None:
    results["reserve_capture"] = {
        **await closed_loop(bench.reserve_capture, CLIENTS, SECONDS, bench.meter()),
        "clients": CLIENTS,
        "counts": "pairs (a ReserveHold then a CaptureHold)",
    }


async def hot_member(bench: Bench, results: dict) -> None:
    run = await closed_loop(bench.hot_member, HOT_CLIENTS, SECONDS, bench.meter())
    results["hot_member_32_clients"] = {**run, "errors_reaching_clients": run["errors"]}


PHASES = {
    "pgbench": pgbench,
    "noop": noop,
    "earn": earn,
    "reserve_capture": reserve_capture,
    "hot_member": hot_member,
}


def ratios(results: dict) -> dict:
    per_second = rates(results)
    return {
        "earn_vs_pgbench": ratio(
            per_second.get("earn_max"), results.get("pgbench_simple_update", {}).get("tps")
        ),
        "reserve_capture_vs_earn": ratio(
            per_second.get("reserve_capture"), per_second.get("earn_max")
        ),
        # How close earning comes to what the load generator and gRPC manage with no work.
        "earn_vs_noop": ratio(per_second.get("earn_max"), per_second.get("noop_max")),
        "goals": {"earn_vs_pgbench": 0.5, "reserve_capture_vs_earn": 0.5},
    }


async def main() -> None:
    chosen = [p.strip() for p in os.environ.get("BENCH_PHASES", ",".join(PHASES)).split(",")]
    results: dict = {"replicas": REPLICAS, "seconds_per_phase": SECONDS}
    async with Bench() as bench:
        for name in chosen:
            await PHASES[name](bench, results)
        results["ratios"] = ratios(results)
        discrepancies = await reconcile.snapshot(bench.pool)
        results["reconciliation_discrepancies"] = {k: len(v) for k, v in discrepancies.items()}
    write(results_name("points", chosen, PHASES), results)


if __name__ == "__main__":
    asyncio.run(main())
