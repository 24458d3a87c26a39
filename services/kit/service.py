"""A service process: pool, broker, gRPC, ops HTTP, outbox relay, consumers, jobs; CLI and SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import signal
from pathlib import Path

import aio_pika
import asyncpg
from aiohttp import web

from . import auth, db, grpc_server, inbox, jobs, logging, ops_http, outbox, retention
from .config import ServiceSettings

log = logging.get("kit.service")


class ServiceApp:
    """Subclasses name their migrations and fill the hooks; the lifecycle is shared."""

    migrations: Path

    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings
        self.name = settings.service_name
        self.domain = f"{self.name}.loyalty"
        self.outbox = outbox.Outbox(self.name)
        self.pool: asyncpg.Pool | None = None
        self.amqp: aio_pika.abc.AbstractRobustConnection | None = None
        self.grpc_port = 0
        self.ops_port = 0
        self._server = None
        self._ops = None
        self._relay = None
        self._consumers: list[inbox.Consumer] = []
        self._scheduler = None

    # --- hooks -------------------------------------------------------------------------------
    async def setup(self) -> None:
        """Build the service's own objects once the pool and broker exist."""

    def grpc_services(self) -> list[tuple]:
        return []

    def consumers(self) -> list[dict]:
        """Keyword arguments for inbox.Consumer: name, bindings, handlers."""
        return []

    def jobs(self) -> list[jobs.Job]:
        return []

    def http_routes(self) -> list[web.RouteDef]:
        return []

    def key_set(self) -> auth.KeySet:
        return auth.KeySet(self.settings.jwks_url)

    # --- lifecycle ---------------------------------------------------------------------------
    async def migrate(self) -> int:
        return await db.migrate(self.settings.dsn(), self.migrations)

    async def start(self, *, relay: bool = True, consume: bool = True, schedule: bool = True):
        s = self.settings
        self.pool = await db.create_pool(s.dsn(), s.pool_min, s.pool_max)
        self.amqp = await aio_pika.connect_robust(s.amqp_url.get_secret_value())
        await self.setup()
        verifier = auth.Verifier(self.key_set(), s.jwt_issuer, s.jwt_audience)
        self._server, self.grpc_port, _ = await grpc_server.build_server(
            services=self.grpc_services(),
            domain=self.domain,
            verifier=verifier,
            host=s.grpc_host,
            port=s.grpc_port,
        )
        await self._server.start()
        self._ops = await ops_http.start(
            s.ops_port,
            {"database": self._db_ready, "broker": self._broker_ready},
            self.http_routes(),
        )
        self.ops_port = ops_http.bound_port(self._ops)
        if relay:
            self._relay = outbox.Relay(
                self.pool, self.amqp, s.events_exchange, s.relay_batch, s.relay_poll_seconds
            )
            await self._relay.start()
        if consume:
            for spec in self.consumers():
                spec = {**spec, "name": s.queue_prefix + spec["name"]}
                consumer = inbox.Consumer(
                    pool=self.pool,
                    connection=self.amqp,
                    dead_letter_exchange=s.dead_letter_exchange,
                    prefetch=s.consumer_prefetch,
                    delivery_limit=s.delivery_limit,
                    **spec,
                )
                await consumer.start()
                self._consumers.append(consumer)
        if schedule:
            self._scheduler = jobs.Scheduler(self.pool, [*self.jobs(), self._retention()])
            await self._scheduler.start()
        log.info("service_started", grpc_port=self.grpc_port, ops_port=self.ops_port)

    async def stop(self) -> None:
        """Stop taking calls and deliveries, finish what is in flight, then close."""
        if self._ops:
            ops_http.set_ready(self._ops, False)
        if self._server:
            await self._server.stop(self.settings.shutdown_grace_seconds)
        for consumer in self._consumers:
            await consumer.stop()
        self._consumers.clear()
        if self._scheduler:
            await self._scheduler.stop()
        if self._relay:
            await self._relay.stop()
        if self._ops:
            await self._ops.cleanup()
        if self.amqp:
            await self.amqp.close()
        if self.pool:
            await self.pool.close()
        log.info("service_stopped")

    def _retention(self) -> jobs.Job:
        s = self.settings
        return retention.job(
            {
                "idempotency": s.idempotency_retention_days,
                "inbox": s.inbox_retention_days,
                "outbox": s.outbox_retention_days,
            }
        )

    async def _db_ready(self) -> bool:
        return await self.pool.fetchval("SELECT true")

    async def _broker_ready(self) -> bool:
        return self.amqp is not None and self.amqp.connected.is_set()


async def _serve(app: ServiceApp, migrate_first: bool) -> None:
    if migrate_first:
        await app.migrate()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await app.start()
    await stop.wait()
    await app.stop()


def main(app_class: type[ServiceApp], settings: ServiceSettings, extra_commands=None) -> None:
    """`python -m services.<svc> [serve|migrate|<job>]`."""
    extra_commands = extra_commands or {}
    parser = argparse.ArgumentParser(prog=f"services.{settings.service_name}")
    parser.add_argument(
        "command", nargs="?", default="serve", choices=["serve", "migrate", *extra_commands]
    )
    parser.add_argument("--migrate", action="store_true", help="migrate before serving")
    parser.add_argument("args", nargs="*")
    options = parser.parse_args()
    logging.configure(settings.service_name, settings.log_level)
    app = app_class(settings)
    if options.command == "serve":
        asyncio.run(_serve(app, options.migrate))
    elif options.command == "migrate":
        count = asyncio.run(app.migrate())
        log.info("migrated", applied=count)
    else:
        asyncio.run(extra_commands[options.command](app, *options.args))
