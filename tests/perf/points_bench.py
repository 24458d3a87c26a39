"""Points benchmark: earn and reserve+capture over gRPC next to pgbench on the same server."""

from __future__ import annotations

import asyncio
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

from loyalty.points.v1 import points_service_pb2 as pb
from loyalty.points.v1 import points_service_pb2_grpc as pb_grpc
from loyalty.points.v1 import resources_pb2 as res
from services.identity.app import IdentityApp
from services.kit import db, events
from services.points.app import PointsApp
from services.points.config import load as load_points
from services.points.store import members as member_store
from services.points.store import reconcile
from tests.integration.conftest import identity_settings
from tests.perf.common import Clock, summary, write
from tests.support import servers

CLIENTS = 16
SECONDS = 10.0
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


async def closed_loop(make_call, clients: int, seconds: float) -> tuple[dict, int]:
    """As fast as `clients` callers can go for `seconds`; returns the summary and error count."""
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def caller(n: int):
        nonlocal errors
        i = 0
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            try:
                await make_call(n, i)
            except grpc.aio.AioRpcError:
                errors += 1
            latencies.append(time.perf_counter() - start)
            i += 1

    with Clock() as clock:
        await asyncio.gather(*(caller(n) for n in range(clients)))
    return summary(latencies, clock.seconds), errors


async def open_loop(make_call, rate: float, seconds: float) -> tuple[dict, int]:
    """Calls started at a fixed arrival rate (not slowed by the server): honest latencies."""
    latencies: list[float] = []
    errors = 0
    tasks = []

    async def one(i: int):
        nonlocal errors
        start = time.perf_counter()
        try:
            await make_call(i % MEMBERS, i)
        except grpc.aio.AioRpcError:
            errors += 1
        latencies.append(time.perf_counter() - start)

    with Clock() as clock:
        begin = time.perf_counter()
        total = int(rate * seconds)
        for i in range(total):
            delay = begin + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i)))
        await asyncio.gather(*tasks)
    return summary(latencies, clock.seconds), errors


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
        "LOYALTY_AMQP_URL": servers.AMQP_URL,
        "LOYALTY_JWKS_URL": settings.jwks_url,
        "LOYALTY_EVENTS_EXCHANGE": settings.events_exchange,
        "LOYALTY_COMMERCE_EXCHANGE": settings.commerce_exchange,
        "LOYALTY_DEAD_LETTER_EXCHANGE": settings.dead_letter_exchange,
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


async def main() -> None:
    identity = IdentityApp(identity_settings())
    await servers.fresh_database(identity.settings.dsn())
    await identity.migrate()
    await identity.start(relay=False, consume=False, schedule=False)
    settings = load_points(
        database_url=servers.database_url("points"),
        grpc_host="127.0.0.1",
        grpc_port=0,
        ops_port=0,
        jwks_url=f"http://127.0.0.1:{identity.ops_port}/.well-known/jwks.json",
        **servers.broker_settings(),
    )
    await servers.fresh_database(settings.dsn())
    app = PointsApp(settings)
    await app.migrate()
    pool = await db.create_pool(settings.dsn(), 1, 4)
    # The service runs as its own processes (replicas), as in production: the load generator
    # here must not share an event loop with the server it measures.
    replicas = [await start_replica(settings, i) for i in range(REPLICAS)]
    amqp = await aio_pika.connect_robust(servers.AMQP_URL)
    # Events must be routable for the relay: a queue of ours takes them and is deleted after.
    channel = await amqp.channel()
    (exchange,) = await events.declare_exchanges(channel, settings.events_exchange)
    sink = await channel.declare_queue(f"bench.{servers.RUN}.points", auto_delete=False)
    await sink.bind(exchange, routing_key="#")

    token = identity.signer.access_token(
        subject="bench", kind="service", ttl=3600, now=dt.datetime.now(dt.UTC), scopes=SCOPES
    )
    meta = (("authorization", f"Bearer {token}"),)
    members = [uuid.uuid4() for _ in range(MEMBERS)]
    async with pool.acquire() as conn:
        for member in members:
            await member_store.ensure(conn, member)
            await member_store.update(
                conn, member, registered=True, sign_up_bonus_paid=True, status="active"
            )
    channels = [grpc.aio.insecure_channel(f"127.0.0.1:{port}") for _, port in replicas]
    stubs = [pb_grpc.PointsServiceStub(c) for c in channels]
    stub = RoundRobin(stubs)
    await stub.UpsertEarningRule(
        pb.UpsertEarningRuleRequest(
            request_id=str(uuid.uuid4()),
            rule=res.EarningRule(
                rule_code="bench_task", kind=res.EARNING_RULE_KIND_TASK, points=0, enabled=True
            ),
        ),
        metadata=meta,
    )

    async def earn(n: int, i: int):
        await stub.Grant(
            pb.GrantRequest(
                request_id=str(uuid.uuid4()),
                member_id=str(members[n % MEMBERS]),
                rule_code="bench_task",
                points=100,
                reference=f"bench-{n}-{i}",
            ),
            metadata=meta,
        )

    async def reserve_capture(n: int, i: int):
        response = await stub.ReserveHold(
            pb.ReserveHoldRequest(
                request_id=str(uuid.uuid4()),
                member_id=str(members[n % MEMBERS]),
                order_id=f"order-{n}-{i}-{uuid.uuid4().hex[:6]}",
                points=10,
                order_amount_minor=10_000,
            ),
            metadata=meta,
        )
        await stub.CaptureHold(
            pb.CaptureHoldRequest(request_id=str(uuid.uuid4()), hold_id=response.hold.hold_id),
            metadata=meta,
        )

    hot = str(members[0])

    async def hot_member(n: int, i: int):
        if n % 2:
            await stub.Grant(
                pb.GrantRequest(
                    request_id=str(uuid.uuid4()),
                    member_id=hot,
                    rule_code="bench_task",
                    points=5,
                    reference=f"hot-{n}-{i}",
                ),
                metadata=meta,
            )
        else:
            await stub.Redeem(
                pb.RedeemRequest(
                    request_id=str(uuid.uuid4()),
                    member_id=hot,
                    points=1,
                    catalogue_item="coupon-1",
                    reference=f"hot-{n}-{i}",
                ),
                metadata=meta,
            )

    try:
        baseline = await asyncio.to_thread(pgbench_simple_update, int(SECONDS))
        earn_max, earn_errors = await closed_loop(earn, CLIENTS, SECONDS)
        target = 0.7 * earn_max["per_second"]
        earn_70, earn_70_errors = await open_loop(earn, target, SECONDS)
        pairs, pair_errors = await closed_loop(reserve_capture, CLIENTS, SECONDS)
        hot_run, hot_errors = await closed_loop(hot_member, 32, SECONDS)
        discrepancies = await reconcile.snapshot(pool)
        results = {
            "replicas": REPLICAS,
            "pgbench_simple_update": baseline,
            "earn_max": {**earn_max, "errors": earn_errors, "clients": CLIENTS},
            "earn_at_70_percent": {
                **earn_70,
                "errors": earn_70_errors,
                "target_per_second": round(target, 1),
                "goal_p99_ms": 50,
            },
            "reserve_capture": {**pairs, "errors": pair_errors, "clients": CLIENTS},
            "hot_member_32_clients": {**hot_run, "errors_reaching_clients": hot_errors},
            "ratios": {
                "earn_vs_pgbench": round(earn_max["per_second"] / baseline["tps"], 3)
                if baseline.get("tps")
                else None,
                "reserve_capture_vs_earn": round(pairs["per_second"] / earn_max["per_second"], 3),
                "goals": {"earn_vs_pgbench": 0.5, "reserve_capture_vs_earn": 0.5},
            },
            "reconciliation_discrepancies": {k: len(v) for k, v in discrepancies.items()},
        }
    finally:
        for c in channels:
            await c.close()
        for process, _ in replicas:
            process.terminate()
            await process.wait()
        await sink.delete(if_unused=False, if_empty=False)
        await app.start(relay=False, consume=False, schedule=False)  # to learn its queue names
        await servers.delete_queues(amqp, app)
        await app.stop()
        await amqp.close()
        await pool.close()
        await identity.stop()
        await servers.drop_database(settings.dsn())
        await servers.drop_database(identity.settings.dsn())
    write("points", results)


if __name__ == "__main__":
    asyncio.run(main())
