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
import collections
import contextlib
import datetime as dt
import glob
import itertools
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import uuid
from urllib.parse import urlsplit

import aio_pika
import aiohttp
import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from loyalty.points.v1 import points_service_pb2 as pb
from loyalty.points.v1 import points_service_pb2_grpc as pb_grpc
from loyalty.points.v1 import resources_pb2 as res
from services.identity.app import IdentityApp
from services.kit import db, events
from services.points.app import PointsApp
from services.points.store import members as member_store
from services.points.store import reconcile
from tests.perf.common import Clock, CpuMeter, pids_named, summary, write
from tests.support import harness, servers

CLIENTS = 16
HOT_CLIENTS = 32
SECONDS = float(os.environ.get("BENCH_SECONDS", "10"))
MEMBERS = 500
REPLICAS = int(os.environ.get("BENCH_REPLICAS", "2"))
SCOPES = ["points:read", "points:grant", "points:spend", "points:adjust", "points:admin"]


def pgbench_simple_update(seconds: int = 10) -> dict:
    """`pgbench -N` (simple-update) with as many clients as the gRPC load, on the same server."""
    binary = shutil.which("pgbench") or next(
        iter(sorted(glob.glob("/usr/lib/postgresql/*/bin/pgbench"), reverse=True)), None
    )
    if binary is None:
        return {"skipped": "pgbench not found"}
    url = urlsplit(servers.PG_URL)
    env = {
        **os.environ,
        "PGHOST": url.hostname or "127.0.0.1",
        "PGPORT": str(url.port or 5432),
        "PGUSER": url.username or "postgres",
    }
    if url.password:
        env["PGPASSWORD"] = url.password
    name = f"loyalty_bench_pgbench_{servers.RUN}"
    subprocess.run(
        ["psql", "-q", "-d", "postgres", "-c", f'CREATE DATABASE "{name}"'],
        env=env,
        check=True,
        capture_output=True,
    )
    try:
        subprocess.run(
            [binary, "-i", "-q", "-s", "10", name], env=env, check=True, capture_output=True
        )
        out = subprocess.run(
            [binary, "-N", "-c", str(CLIENTS), "-j", "2", "-T", str(seconds), name],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    finally:
        subprocess.run(
            ["psql", "-q", "-d", "postgres", "-c", f'DROP DATABASE "{name}"'],
            env=env,
            capture_output=True,
        )
    tps = float(re.search(r"tps = ([\d.]+)", out).group(1))
    latency = re.search(r"latency average = ([\d.]+) ms", out)
    return {
        "tps": tps,
        "latency_avg_ms": float(latency.group(1)) if latency else None,
        "clients": CLIENTS,
    }


class Load:
    """Latencies and errors (by status code) of one phase."""

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.errors: collections.Counter[str] = collections.Counter()

    async def call(self, make_call, n: int, i: int) -> None:
        start = time.perf_counter()
        try:
            await make_call(n, i)
        except grpc.aio.AioRpcError as exc:
            self.errors[exc.code().name] += 1
        self.latencies.append(time.perf_counter() - start)

    def result(self, seconds: float, meter: CpuMeter) -> dict:
        out = summary(self.latencies, seconds)
        out["errors"] = sum(self.errors.values())
        if self.errors:
            out["errors_by_code"] = dict(self.errors)
        out["cpu_cores"] = meter.cores
        if self.latencies:
            # CPU of this process per call: what the load generator itself costs.
            own = meter.cores.get("load_generator", 0) * seconds / len(self.latencies)
            out["load_generator_cpu_ms_per_call"] = round(own * 1000, 3)
        return out


async def closed_loop(make_call, clients: int, seconds: float, meter: CpuMeter) -> dict:
    """As fast as `clients` callers can go for `seconds`."""
    load = Load()
    deadline = time.perf_counter() + seconds

    async def caller(n: int):
        i = 0
        while time.perf_counter() < deadline:
            await load.call(make_call, n, i)
            i += 1

    with Clock() as clock, meter:
        await asyncio.gather(*(caller(n) for n in range(clients)))
    return load.result(clock.seconds, meter)


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


class RoundRobin:
    """Spreads calls over the replicas' stubs, as a load balancer would."""

    def __init__(self, stubs) -> None:
        self._stubs = itertools.cycle(stubs)

    def __getattr__(self, name):
        return getattr(next(self._stubs), name)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def start_replica(settings, index: int):
    """`python -m services.points serve` with the bench's settings; waits for /readyz."""
    grpc_port, ops_port = free_port(), free_port()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(sys.path),
        "POINTS_DATABASE_URL": settings.dsn(),
        "POINTS_GRPC_PORT": str(grpc_port),
        "POINTS_OPS_PORT": str(ops_port),
        "POINTS_POOL_MAX": "20",
        "LOYALTY_LOG_LEVEL": "WARNING",
        "LOYALTY_AMQP_URL": settings.amqp_url.get_secret_value(),  # as the run's points user
        "LOYALTY_EVENT_PUBLISHERS": settings.event_publishers,
        "LOYALTY_JWKS_URL": settings.jwks_url,
        "LOYALTY_EVENTS_EXCHANGE": settings.events_exchange,
        "LOYALTY_COMMERCE_EXCHANGE": settings.commerce_exchange,
        "LOYALTY_DEAD_LETTER_EXCHANGE": settings.dead_letter_exchange,
        "LOYALTY_UNROUTED_EXCHANGE": settings.unrouted_exchange,
        "LOYALTY_QUEUE_PREFIX": settings.queue_prefix,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.points",
        "serve",
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
    )
    async with aiohttp.ClientSession() as session:
        for _ in range(300):
            try:
                async with session.get(f"http://127.0.0.1:{ops_port}/readyz") as response:
                    if response.status == 200:
                        return process, grpc_port
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    process.terminate()
    raise RuntimeError(f"points replica {index} did not become ready")


class Bench:
    """Identity (for tokens), a fresh points database, the replicas, stubs and the calls."""

    async def __aenter__(self) -> Bench:
        self._stack = contextlib.AsyncExitStack()
        await self._stack.__aenter__()
        try:
            await self._start()
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def __aexit__(self, *exc) -> None:
        await self._stack.aclose()

    async def _start(self) -> None:
        push = self._stack.push_async_callback
        identity = IdentityApp(harness.settings(IdentityApp))
        await servers.fresh_database(identity.settings.dsn())
        push(servers.drop_database, identity.settings.dsn())
        await identity.migrate()
        await identity.start(relay=False, consume=False, schedule=False)
        push(identity.stop)
        self.settings = settings = harness.settings(PointsApp, identity=identity)
        await servers.fresh_database(settings.dsn())
        push(servers.drop_database, settings.dsn())
        app = PointsApp(settings)
        await app.migrate()
        self.pool = await db.create_pool(settings.dsn(), 1, 4)
        push(self.pool.close)
        amqp = await aio_pika.connect_robust(servers.AMQP_URL)
        push(amqp.close)
        push(self._delete_queues, app, amqp)
        # Events must be routable for the relay: a queue of ours takes them and is deleted after.
        channel = await amqp.channel()
        (exchange,) = await events.declare_exchanges(
            channel, settings.events_exchange, unrouted=settings.unrouted_exchange
        )
        sink = await channel.declare_queue(f"bench.{servers.RUN}.points", auto_delete=False)
        push(sink.delete, if_unused=False, if_empty=False)
        await sink.bind(exchange, routing_key="#")
        # The service runs as its own processes (replicas), as in production: the load
        # generator here must not share an event loop with the server it measures.
        self.replicas = []
        for index in range(REPLICAS):
            process, port = await start_replica(settings, index)
            push(self._stop_replica, process)
            self.replicas.append((process, port))
        channels = [grpc.aio.insecure_channel(f"127.0.0.1:{port}") for _, port in self.replicas]
        for channel_ in channels:
            push(channel_.close)
        self.stub = RoundRobin([pb_grpc.PointsServiceStub(c) for c in channels])
        self.health = RoundRobin([health_pb2_grpc.HealthStub(c) for c in channels])
        token = identity.signer.access_token(
            subject="bench", kind="service", ttl=3600, now=dt.datetime.now(dt.UTC), scopes=SCOPES
        )
        self.meta = (("authorization", f"Bearer {token}"),)
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

    @staticmethod
    async def _stop_replica(process) -> None:
        if process.returncode is None:  # one that died on its own says why, not this
            process.terminate()
        await process.wait()

    @staticmethod
    async def _delete_queues(app: PointsApp, amqp) -> None:
        await app.start(relay=False, consume=False, schedule=False)  # to learn its queue names
        try:
            await servers.delete_queues(amqp, app)
        finally:
            await app.stop()

    def meter(self) -> CpuMeter:
        replicas = [process.pid for process, _ in self.replicas]
        return CpuMeter(
            {
                "load_generator": lambda: [os.getpid()],
                "replicas": lambda: replicas,
                "postgres": self._postgres_pids,
                "broker": lambda: pids_named("beam.smp"),
            }
        )

    def _postgres_pids(self) -> list[int]:
        """This benchmark's backends and the server's own processes (WAL writer, checkpointer…):
        other databases' sessions on a shared server count as `other`."""
        url = urlsplit(servers.PG_URL)
        database = self.settings.dsn().rsplit("/", 1)[1].replace("'", "''")
        out = subprocess.run(
            [
                "psql",
                "-h",
                url.hostname or "127.0.0.1",
                "-p",
                str(url.port or 5432),
                "-U",
                url.username or "postgres",
                "-d",
                "postgres",
                "-Atc",
                f"SELECT pid FROM pg_stat_activity WHERE datname = '{database}'"
                " OR backend_type <> 'client backend'",
            ],
            capture_output=True,
            text=True,
        )
        return [int(p) for p in out.stdout.split()] if out.returncode == 0 else []

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
async def pgbench(bench: Bench, results: dict) -> None:
    results["pgbench_simple_update"] = await asyncio.to_thread(pgbench_simple_update, int(SECONDS))


async def noop(bench: Bench, results: dict) -> None:
    results["noop_max"] = {
        **await closed_loop(bench.noop, CLIENTS, SECONDS, bench.meter()),
        "clients": CLIENTS,
        "what": "grpc health Check through the same channels, metadata and interceptor",
    }


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
    def ratio(a, b):
        return round(a / b, 3) if a and b else None

    per_second = {k: v.get("per_second") for k, v in results.items() if isinstance(v, dict)}
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
    # A run of some phases only does not overwrite the figures of a full run.
    write("points" if chosen == list(PHASES) else "points." + "+".join(chosen), results)


if __name__ == "__main__":
    asyncio.run(main())
