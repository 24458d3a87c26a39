"""What the service benchmarks stand on: identity for tokens, the service's fresh database, a pool
for the bench's own queries, routable events, the service running as replica processes,
`ServiceBench`, which holds them all, and the baseline phases every service bench runs. Each
piece is undone, in reverse, when the exit stack it was given closes. Settings: BENCH_REPLICAS
(2).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import itertools
import os
import subprocess
import sys
from typing import Any, TypeVar
from urllib.parse import urlsplit

import aio_pika
import asyncpg
import grpc
from grpc_health.v1 import health_pb2_grpc

from services.identity.app import IdentityApp
from services.kit import db, events
from services.kit.service import ServiceApp
from tests.perf.common import SECONDS, CpuMeter, closed_loop, pgbench_simple_update, pids_named
from tests.support import harness, servers
from tools.suite import processes

REPLICAS = int(os.environ.get("BENCH_REPLICAS", "2"))
App = TypeVar("App", bound=ServiceApp)


class RoundRobin:
    """Spreads calls over the replicas' stubs, as a load balancer would."""

    def __init__(self, stubs) -> None:
        self._stubs = itertools.cycle(stubs)

    def __getattr__(self, name):
        return getattr(next(self._stubs), name)


# --- the databases, the pool, the broker --------------------------------------------------
async def fresh_database(stack: contextlib.AsyncExitStack, dsn: str) -> None:
    """An empty database at `dsn` (dropped first if a run left one), dropped when `stack` closes."""
    await servers.fresh_database(dsn)
    stack.push_async_callback(servers.drop_database, dsn)


async def started_identity(stack: contextlib.AsyncExitStack) -> IdentityApp:
    """Identity on a fresh database, started without relay, consumers or jobs: it signs the
    bench's tokens and serves the keys the service checks them with. Stopped when `stack` closes;
    last of all (every bench starts here), the run's exchanges are deleted: they are durable."""
    amqp = await aio_pika.connect_robust(servers.AMQP_URL)
    stack.push_async_callback(amqp.close)
    stack.push_async_callback(servers.delete_exchanges, amqp)
    identity = IdentityApp(harness.settings(IdentityApp))
    await fresh_database(stack, identity.settings.dsn())
    await identity.migrate()
    await identity.start(relay=False, consume=False, schedule=False)
    stack.push_async_callback(identity.stop)
    return identity


async def migrated_app(
    stack: contextlib.AsyncExitStack, app_class: type[App], **settings: Any
) -> App:
    """`app_class` (not started) on a fresh database of its own with its migrations applied;
    `settings` as `harness.settings` takes them (`identity=` for every service but identity)."""
    values = harness.settings(app_class, **settings)
    await fresh_database(stack, values.dsn())
    app = app_class(values)
    await app.migrate()
    return app


async def open_pool(stack: contextlib.AsyncExitStack, dsn: str) -> asyncpg.Pool:
    """A small pool (1 to 4) for the bench's own queries, closed when `stack` closes."""
    pool = await db.create_pool(dsn, 1, 4)
    stack.push_async_callback(pool.close)
    return pool


async def routable_events(stack: contextlib.AsyncExitStack, app: ServiceApp) -> None:
    """Events must be routable for the relay: a queue of the bench's takes every event on the
    app's exchange. When `stack` closes that queue and the app's own queues are deleted (its
    queue names need no running app) and the broker connection is closed."""
    settings = app.settings
    amqp = await aio_pika.connect_robust(servers.AMQP_URL)
    stack.push_async_callback(amqp.close)
    stack.push_async_callback(servers.delete_queues, amqp, app)
    channel = await amqp.channel()
    (exchange,) = await events.declare_exchanges(
        channel, settings.events_exchange, unrouted=settings.unrouted_exchange
    )
    sink = await channel.declare_queue(f"bench.{servers.RUN}.{app.name}", auto_delete=False)
    stack.push_async_callback(sink.delete, if_unused=False, if_empty=False)
    await sink.bind(exchange, routing_key="#")


def postgres_pids(dsn: str) -> list[int]:
    """The backends of the database at `dsn` and the server's own processes (WAL writer,
    checkpointer…): other databases' sessions on a shared server count as `other`."""
    url = urlsplit(servers.PG_URL)
    database = dsn.rsplit("/", 1)[1].replace("'", "''")
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


# --- the service's processes --------------------------------------------------------------
def child_env(**values: str) -> dict[str, str]:
    """The environment of a service process started by a bench: this one's, with the same
    import path, logging at WARNING, and `values`."""
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(sys.path),
        "LOYALTY_LOG_LEVEL": "WARNING",
        **values,
    }


def replica_env(settings, grpc_port: int, ops_port: int, **values: str) -> dict[str, str]:
    """A replica's environment: the bench's database, broker, exchanges and identity's keys,
    its own ports, the production pool (20) and `values` (the service's own settings)."""
    prefix = settings.service_name.upper()
    return child_env(
        **{
            f"{prefix}_DATABASE_URL": settings.dsn(),
            f"{prefix}_GRPC_PORT": str(grpc_port),
            f"{prefix}_OPS_PORT": str(ops_port),
            f"{prefix}_POOL_MAX": "20",
        },
        LOYALTY_AMQP_URL=settings.amqp_url.get_secret_value(),  # as the run's user of the service
        LOYALTY_EVENT_PUBLISHERS=settings.event_publishers,
        LOYALTY_JWKS_URL=settings.jwks_url,
        LOYALTY_EVENTS_EXCHANGE=settings.events_exchange,
        LOYALTY_COMMERCE_EXCHANGE=settings.commerce_exchange,
        LOYALTY_DEAD_LETTER_EXCHANGE=settings.dead_letter_exchange,
        LOYALTY_UNROUTED_EXCHANGE=settings.unrouted_exchange,
        LOYALTY_QUEUE_PREFIX=settings.queue_prefix,
        **values,
    )


async def start_replica(
    settings, index: int | str, **values: str
) -> tuple[asyncio.subprocess.Process, int]:
    """`python -m services.<service> serve` with the bench's settings (`values`: the service's
    own, see `replica_env`); waits for /readyz; returns the process and its gRPC port."""
    service = settings.service_name
    grpc_port, ops_port = processes.free_port(), processes.free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        f"services.{service}",
        "serve",
        env=replica_env(settings, grpc_port, ops_port, **values),
        stdout=asyncio.subprocess.DEVNULL,
    )
    if await processes.ready(process, ops_port, timeout=30):
        return process, grpc_port
    await stop_replica(process)
    raise RuntimeError(f"{service} replica {index} did not become ready ({process.returncode})")


async def stop_replica(process: asyncio.subprocess.Process) -> None:
    await processes.stop(process)


# --- the bench ----------------------------------------------------------------------------
class ServiceBench:
    """Identity (for tokens), a fresh migrated database of the service (`app_class`), a pool,
    routable events, BENCH_REPLICAS replicas with a gRPC channel to each and a health stub over
    them; entered with `async with`, all undone on leaving. A bench adds its stubs and data in
    `_start` after `super()._start()`, and the service's own replica settings in `replica_env`."""

    app_class: type[ServiceApp]

    async def __aenter__(self):
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
        stack = self._stack
        self.identity = await started_identity(stack)
        app = await migrated_app(stack, self.app_class, identity=self.identity)
        self.settings: Any = app.settings
        self.pool = await open_pool(stack, self.settings.dsn())
        await routable_events(stack, app)
        # The service runs as its own processes (replicas), as in production: the load
        # generator here must not share an event loop with the server it measures.
        self.replicas: list[tuple[asyncio.subprocess.Process, int]] = []
        for index in range(REPLICAS):
            process, port = await self.start_replica(index)
            stack.push_async_callback(stop_replica, process)
            self.replicas.append((process, port))
        self.channels = [self.channel(port) for _, port in self.replicas]
        self.health = self.stubs(health_pb2_grpc.HealthStub)

    async def noop(self, n: int, i: int) -> None:
        """The call `noop_max` measures: a health Check with the bench's metadata."""
        raise NotImplementedError

    def replica_env(self) -> dict[str, str]:
        """The service's own settings for its replicas (keys…), by environment variable."""
        return {}

    async def start_replica(self, index: int | str) -> tuple[asyncio.subprocess.Process, int]:
        """One more replica of the service (the caller stops it); returns it and its gRPC port."""
        return await start_replica(self.settings, index, **self.replica_env())

    def channel(self, port: int) -> grpc.aio.Channel:
        """A channel to the replica on `port`, closed when the bench is left."""
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
        self._stack.push_async_callback(channel.close)
        return channel

    def stubs(self, stub_class) -> RoundRobin:
        """`stub_class` on every replica's channel, taken in turn (RoundRobin)."""
        return RoundRobin([stub_class(c) for c in self.channels])

    def token(self, subject: str, kind: str, scopes: list[str]) -> tuple:
        """gRPC metadata carrying an access token (an hour) that identity signed."""
        token = self.identity.signer.access_token(
            subject=subject, kind=kind, ttl=3600, now=dt.datetime.now(dt.UTC), scopes=scopes
        )
        return (("authorization", f"Bearer {token}"),)

    def meter(self, replicas: list[int] | None = None) -> CpuMeter:
        """Where the CPU goes: this process, the replicas (or the `replicas` pids), this
        bench's PostgreSQL backends and the server's own processes, the broker."""
        pids = replicas if replicas is not None else [p.pid for p, _ in self.replicas]
        return CpuMeter(
            {
                "load_generator": lambda: [os.getpid()],
                "replicas": lambda: pids,
                "postgres": lambda: postgres_pids(self.settings.dsn()),
                "broker": lambda: pids_named("beam.smp"),
            }
        )


# --- the baselines every service bench measures -------------------------------------------
async def pgbench(bench: ServiceBench, results: dict) -> None:
    """The phase `pgbench`: `pgbench -N` on the same server for as long as any phase runs."""
    results["pgbench_simple_update"] = await asyncio.to_thread(pgbench_simple_update, int(SECONDS))


async def noop_max(bench: ServiceBench, clients: int) -> dict:
    """What the load generator and gRPC manage with no work behind the call: `bench.noop` as
    fast as `clients` callers go (a bench's `noop` phase)."""
    return {
        **await closed_loop(bench.noop, clients, SECONDS, bench.meter()),
        "clients": clients,
        "what": "grpc health Check through the same channels, metadata and interceptor",
    }
