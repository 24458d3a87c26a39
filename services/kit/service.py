"""A service process: pool, broker, gRPC, ops HTTP, outbox relay, consumers, jobs; CLI and SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import functools
import inspect
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Generic, TypeVar

import aio_pika
import asyncpg
import grpc
from aiohttp import web

from . import (
    auth,
    clock,
    db,
    deadletters,
    errors,
    grpc_server,
    inbox,
    jobs,
    logging,
    ops_http,
    outbox,
    publishers,
    retention,
    revocations,
    tracing,
)
from .config import ServiceSettings
from .deps import Deps
from .jobs import Job

S = TypeVar("S", bound=ServiceSettings)

log = logging.get("kit.service")


class ServiceApp(Generic[S]):
    """A service names its settings class and migrations, and fills the hooks:

        class PointsApp(ServiceApp[PointsSettings]):
            settings_class = PointsSettings
            migrations = Path(__file__).parent / "migrations"

            def servicers(self): return [PointsApi(self.deps, ...)]
            def subscriptions(self): return handlers.subscriptions(...)

    The lifecycle (pool, broker, gRPC, ops HTTP, relay, consumers, jobs, drain) is shared.
    The kit adds its own consumers to the service's: `subscriptions()` of any app also returns
    `kit_subscriptions()` (the revocations of access tokens, see kit.revocations), so that
    starting, the dead-letters command and the tests' clean-up see every queue.
    """

    settings_class: type[S]
    migrations: Path
    # After the grace period for calls, how long the rest of stopping may take at most.
    CLOSE_SECONDS = 5.0

    def __init__(self, settings: S | None = None) -> None:
        self.settings: S = settings if settings is not None else self.settings_class.load()
        self.name = self.settings.service_name
        self.domain = f"{self.name}.loyalty"
        # The process's tracer provider for this service (kit.tracing): exports only when an
        # OTLP endpoint is configured.
        self.tracer = tracing.tracer(self.name)
        self.deps = self.make_deps()
        self.amqp: aio_pika.abc.AbstractRobustConnection | None = None
        self.grpc_port = 0
        self.ops_port = 0
        self._server: grpc.aio.Server | None = None
        self._ops: web.AppRunner | None = None
        self._relay: outbox.Relay | None = None
        self._consumers: list[inbox.Consumer] = []
        self._scheduler: jobs.Scheduler | None = None
        s = self.settings
        self.revocations = revocations.Revocations(
            s.revocation_retention_seconds, s.revocation_check_seconds, s.revocation_reload_seconds
        )
        # Whose events to trust, and who this service is on the broker (kit.publishers).
        self.publishers = publishers.Publishers.parse(s.event_publishers)
        self.broker_user = publishers.broker_user(s.amqp_url.get_secret_value())

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        hook = cls.__dict__.get("subscriptions")
        if hook is not None:
            cls.subscriptions = _with_kit_subscriptions(hook)  # type: ignore[method-assign]

    @property
    def pool(self) -> asyncpg.Pool:
        return self.deps.pool

    @property
    def outbox(self) -> outbox.Outbox:
        return self.deps.outbox

    # --- hooks -------------------------------------------------------------------------------
    def make_deps(self) -> Deps[S]:
        """The dependencies object; a service with more to hand out returns a subclass."""
        return Deps(self.settings, outbox.Outbox(self.name))

    async def setup(self) -> None:
        """Build what needs the database (keys, caches) once the pool is open."""

    def servicers(self) -> list[object]:
        """The gRPC servicers (instances of generated `<X>Servicer` classes)."""
        return []

    def subscriptions(self) -> list[inbox.Subscription]:
        """The event consumers: a queue each, handlers by message type (the kit's come too)."""
        return self.kit_subscriptions()

    def kit_subscriptions(self) -> list[inbox.Subscription]:
        """What every service consumes: identity's events that revoke access tokens."""
        return [self.revocations.subscription(self.name)]

    def jobs(self) -> list[Job]:
        return []

    def http_routes(self) -> list[web.RouteDef]:
        return []

    def key_set(self) -> auth.KeySet:
        return auth.KeySet(self.settings.jwks_url)

    # --- lifecycle ---------------------------------------------------------------------------
    async def migrate(self) -> int:
        return await db.migrate(self.settings.dsn(), self.migrations)

    async def open(self, min_size: int | None = None, max_size: int | None = None) -> None:
        """Open the pool and set up: what serving and every command need (no broker)."""
        s = self.settings
        self.deps.pool = await db.create_pool(
            s.dsn(), min_size or s.pool_min, max_size or s.pool_max, s.pool_idle_seconds
        )
        await self.setup()

    async def start(self, *, relay: bool = True, consume: bool = True, schedule: bool = True):
        s = self.settings
        await self.open()
        # Before the first call is served: a new replica knows every revocation at once.
        await self.revocations.start(s.dsn())
        self.amqp = await aio_pika.connect_robust(s.amqp_url.get_secret_value())
        verifier = auth.Verifier(
            self.key_set(), s.jwt_issuer, s.jwt_audience, revoked=self.revocations
        )
        self._server, self.grpc_port, _ = await grpc_server.build_server(
            servicers=self.servicers(),
            domain=self.domain,
            verifier=verifier,
            host=s.grpc_host,
            port=s.grpc_port,
            limits=grpc_server.Limits(
                s.grpc_max_concurrent_calls,
                s.grpc_max_streams_per_connection,
                s.grpc_max_message_bytes,
            ),
            tracer=self.tracer,
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
                self.pool,
                self.amqp,
                s.events_exchange,
                s.relay_batch,
                s.relay_poll_seconds,
                unrouted=s.unrouted_exchange or None,
                user_id=self.broker_user,
                tracer=self.tracer,
            )
            await self._relay.start()
        if consume:
            for subscription in self.subscriptions():
                # The kit's revocations need no inbox (applying one twice changes nothing).
                kind = (
                    revocations.Consumer
                    if isinstance(subscription, revocations.Feed)
                    else inbox.Consumer
                )
                consumer = kind(
                    name=s.queue_prefix + subscription.queue,
                    pool=self.pool,
                    connection=self.amqp,
                    bindings=subscription.bindings(
                        s.events_exchange, s.commerce_exchange, s.unrouted_exchange or None
                    ),
                    handlers=subscription.by_type(),
                    dead_letter_exchange=s.dead_letter_exchange,
                    publishers=self.publishers,
                    own_user=self.broker_user,
                    prefetch=s.consumer_prefetch,
                    delivery_limit=s.delivery_limit,
                    max_body_bytes=s.max_event_bytes,
                    tracer=self.tracer,
                )
                await consumer.start()
                self._consumers.append(consumer)
        if schedule:
            self._scheduler = jobs.Scheduler(
                self.pool, [*self.jobs(), self._retention(), self.revocations.job()]
            )
            await self._scheduler.start()
        log.info("service_started", grpc_port=self.grpc_port, ops_port=self.ops_port)

    async def stop(self) -> None:
        """Stop taking calls and deliveries, finish what is in flight, then close, within the
        grace period plus a few seconds even when the broker or the database is away: what
        does not finish in time is abandoned (an unacked delivery comes back, an unpublished
        outbox row is sent by the next start), never waited for beyond the pod's grace."""
        grace = self.settings.shutdown_grace_seconds
        deadline = asyncio.get_running_loop().time() + grace + self.CLOSE_SECONDS
        if self._ops:
            ops_http.set_ready(self._ops, False)
        if self._server:
            await self._server.stop(grace)
        # No call is left to check: the deny list stops before a broker that is away can take
        # the time that remains.
        await _until(deadline, self.revocations.stop(), "revocations")
        consumers = [consumer.stop() for consumer in self._consumers]
        await _until(deadline, asyncio.gather(*consumers), "consumers")
        self._consumers.clear()
        if self._scheduler:
            await _until(deadline, self._scheduler.stop(), "jobs")
        if self._relay:
            await _until(deadline, self._relay.stop(timeout=max(0.0, deadline - _now())), "relay")
        if self._ops:
            await _until(deadline, self._ops.cleanup(), "ops")
        if self.amqp:
            await _until(deadline, self.amqp.close(), "broker")
        # The pool closes even when the broker took the whole budget: its connections are local
        # and a server left with them open would count them until it times them out.
        await _until(max(deadline, _now() + 2), self.close(), "database")
        log.info("service_stopped")

    async def close(self) -> None:
        if self.deps._pool is not None:
            await self.deps.pool.close()
            self.deps.pool = None

    def _retention(self) -> Job:
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


def _with_kit_subscriptions(hook: Callable[[ServiceApp], list[inbox.Subscription]]):
    """A service's `subscriptions` hook, followed by the kit's consumers it did not return
    itself (one that calls `super().subscriptions()` already has them)."""

    @functools.wraps(hook)
    def subscriptions(self: ServiceApp) -> list[inbox.Subscription]:
        own = hook(self)
        queues = {subscription.queue for subscription in own}
        return [*own, *(k for k in self.kit_subscriptions() if k.queue not in queues)]

    return subscriptions


def _now() -> float:
    return asyncio.get_running_loop().time()


async def _until(deadline: float, step: Awaitable[object], what: str) -> None:
    """Run one step of stopping, abandoning it at the deadline (or when it fails)."""
    try:
        await asyncio.wait_for(step, max(0.0, deadline - _now()))
    except Exception as exc:  # TimeoutError included: the process is going away regardless
        log.warning("stop_step_abandoned", step=what, error=type(exc).__name__)


async def _serve(app: ServiceApp, migrate_first: bool) -> None:
    if migrate_first:
        await app.migrate()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await app.start()
    except errors.Misconfigured as exc:  # one line that says what to do, not a traceback
        log.error("service_misconfigured", fix=str(exc))
        await app.stop()
        raise SystemExit(1) from None
    await stop.wait()
    await app.stop()


Command = Callable[..., Awaitable[None]]


def main(app_class: type[ServiceApp], commands: dict[str, Command] | None = None) -> None:
    """`python -m services.<svc> [serve [--migrate] | migrate | <command> ARGS...]`.

    A command is `async def command(app, *args)`, run with the database migrated and the app's
    pool open (no broker, no server); its docstring is its help (`<command> --help`): a first
    line, then its usage."""
    commands = {**(commands or {}), "dead-letters": _dead_letters}
    service = app_class.settings_class.service
    parser = argparse.ArgumentParser(prog=f"python -m services.{service}")
    chosen = parser.add_subparsers(dest="command", metavar="command")
    serve = chosen.add_parser("serve", help="serve gRPC, events and jobs (the default)")
    serve.add_argument("--migrate", action="store_true", help="migrate before serving")
    chosen.add_parser("migrate", help="apply the database migrations, then exit")
    for name, command in commands.items():
        doc = inspect.cleandoc(command.__doc__ or "")
        sub = chosen.add_parser(
            name,
            help=doc.partition("\n")[0],
            description=doc,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        sub.add_argument("args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    options = parser.parse_args()  # before the settings: --help needs no environment
    settings = app_class.settings_class.load()
    logging.configure(settings.service_name, settings.log_level)
    app = app_class(settings)
    if settings.dev_command_time:  # DEVELOPMENT ONLY (kit.clock.command_time)
        try:
            if options.command in (None, "serve"):
                raise ValueError("is for operator commands in development: serve refuses it")
            app.deps.clock.set(clock.command_time(settings.dev_command_time))
        except ValueError as exc:
            raise SystemExit(f"{service.upper()}_DEV_COMMAND_TIME {exc}") from None
        log.warning("development_command_clock", now=app.deps.now().isoformat())
    if options.command in (None, "serve"):
        asyncio.run(_serve(app, getattr(options, "migrate", False)))
    elif options.command == "migrate":
        count = asyncio.run(app.migrate())
        log.info("migrated", applied=count)
    else:
        asyncio.run(_command(app, commands[options.command], options.args))


async def _dead_letters(app: ServiceApp, *args: str) -> None:
    """The consumers' dead letters.

    dead-letters list               each message: queue, id, type, reason, deaths
    dead-letters show ID            its headers and body
    dead-letters replay ID|--all    back to the queue it died in (once its cause is fixed)
    dead-letters drop ID|--all      removed for good"""
    queues = [app.settings.queue_prefix + s.queue for s in app.subscriptions()]
    connection = await aio_pika.connect_robust(app.settings.amqp_url.get_secret_value())
    try:
        await deadletters.command(connection, queues, *args, user_id=app.broker_user)
    finally:
        await connection.close()


async def _command(app: ServiceApp, command: Command, args: list[str]) -> None:
    await app.migrate()
    await app.open(1, 2)
    try:
        await command(app, *args)
    finally:
        await app.close()
