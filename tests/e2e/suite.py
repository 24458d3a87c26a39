"""The whole suite as `make run` starts it: honcho runs deploy/local/Procfile, every service and
the fake payment provider a process of its own, on this test run's PostgreSQL and RabbitMQ.

The suite gets databases, exchanges, queues and broker users of its own (names under
`test.<run>.e2e.`), apart from the services the integration tests run in-process meanwhile:
those would otherwise consume its events and answer them on the same exchange. Its operator
commands (`python -m services.<svc> …`) run with the services' own environment, and may act at
another instant (`<SVC>_DEV_COMMAND_TIME`, development only: kit.clock.command_time).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import os
import secrets
import shutil
import sys
import tempfile
from pathlib import Path

import aio_pika
import aiormq

from services.giftcard.app import GiftcardApp
from services.growth.app import GrowthApp
from services.identity.app import IdentityApp
from services.kit import publishers
from services.kit.ports import PORTS
from services.kit.service import ServiceApp
from services.points.app import PointsApp
from services.subscription.app import SubscriptionApp
from tests.perf import setup
from tests.support import servers
from tools import broker_users

ROOT = Path(__file__).resolve().parents[2]
PROCFILE = ROOT / "deploy" / "local" / "Procfile"
APPS: dict[str, type[ServiceApp]] = {
    "identity": IdentityApp,
    "growth": GrowthApp,
    "points": PointsApp,
    "subscription": SubscriptionApp,
    "giftcard": GiftcardApp,
}
PREFIX = f"test.{servers.RUN}.e2e."
NAMES = publishers.Names(
    events=f"{PREFIX}loyalty.events",
    commerce=f"{PREFIX}commerce.events",
    dead_letters=f"{PREFIX}loyalty.dlx",
    unrouted=f"{PREFIX}loyalty.unrouted",
    queue_prefix=PREFIX,
)
# The broker users the suite and a storefront need (not the outside risk and credit systems).
SOURCES = (*APPS, publishers.COMMERCE)


def _key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


class Suite:
    """Entered with `async with`: databases made, broker users imported, honcho started and
    every service ready and consuming; on leaving, all of it stopped and removed."""

    def __init__(self, amqp: aio_pika.abc.AbstractRobustConnection) -> None:
        self.amqp = amqp  # the run's administrative connection (cleaning up)
        self.ports = {name: (setup.free_port(), setup.free_port()) for name in APPS}
        self.databases = {name: servers.database_url(f"e2e_{name}") for name in APPS}
        self.dir = Path(tempfile.mkdtemp(prefix="loyalty-e2e-"))
        self.codes_dir = self.dir / "dev-codes"  # the development code sender's files
        self.keys = {
            "identity": {"data_key": _key(), "lookup_key": _key(), "code_sender": "dev-file"},
            "giftcard": {"pin_key": _key()},
            "subscription": {"code_key": _key()},
        }
        self.urls: dict[str, str] = {}  # the broker URL of each source's publisher
        self.publishers = ""  # the EVENT_PUBLISHERS spec trusting them
        self._users: list[str] = []
        self.process: asyncio.subprocess.Process | None = None

    # --- what the processes get -----------------------------------------------------------
    def grpc(self, service: str) -> str:
        return f"127.0.0.1:{self.ports[service][0]}"

    @property
    def storefront_url(self) -> str:
        return self.urls[publishers.COMMERCE]

    def publisher_of(self, source: str) -> str:
        """The broker user publishing a source's events."""
        return publishers.broker_user(self.urls[source])

    def _broker_users(self) -> str:
        """A broker user per source, as `make run` makes them (tools.broker_users), for this
        suite's names; returns the EVENT_PUBLISHERS spec trusting them. Without a broker to
        administer, everyone is the run's user."""
        if not servers.RABBITMQCTL:
            self.urls = {source: servers.AMQP_URL for source in SOURCES}
            return f"*={publishers.broker_user(servers.AMQP_URL)}"
        passwords = {source: secrets.token_urlsafe(16) for source in SOURCES}
        users = broker_users.users_of(passwords, prefix=f"test-{servers.RUN}-e2e-")
        broker_users.import_definitions(servers.RABBITMQCTL, publishers.definitions(users, NAMES))
        self._users = [user for user, _ in users.values()]
        self.urls = {
            source: broker_users.url_for(servers.AMQP_URL, user, password)
            for source, (user, password) in users.items()
        }
        return ",".join(f"{source}={user}" for source, (user, _) in users.items())

    def env(self, **values: str) -> dict[str, str]:
        """The environment `make run` gives the processes (deploy/local/run.sh), with this
        suite's servers, names, ports and keys, and `values`."""
        per_service: dict[str, str] = {}
        for name, (grpc_port, ops_port) in self.ports.items():
            prefix = name.upper()
            per_service[f"{prefix}_DATABASE_URL"] = self.databases[name]
            per_service[f"{prefix}_GRPC_PORT"] = str(grpc_port)
            per_service[f"{prefix}_OPS_PORT"] = str(ops_port)
            for key, value in self.keys.get(name, {}).items():
                per_service[f"{prefix}_{key.upper()}"] = value
        for source, url in self.urls.items():
            per_service[broker_users.env_name(source)] = url
        return setup.child_env(
            **per_service,
            LOYALTY_EVENTS_EXCHANGE=NAMES.events,
            LOYALTY_COMMERCE_EXCHANGE=NAMES.commerce,
            LOYALTY_DEAD_LETTER_EXCHANGE=NAMES.dead_letters,
            LOYALTY_UNROUTED_EXCHANGE=NAMES.unrouted,
            LOYALTY_QUEUE_PREFIX=NAMES.queue_prefix,
            LOYALTY_EVENT_PUBLISHERS=self.publishers,
            LOYALTY_JWKS_URL=f"http://127.0.0.1:{self.ports['identity'][1]}/.well-known/jwks.json",
            # The run's servers are shared by every app of the run (100 connections).
            LOYALTY_POOL_MIN="1",
            LOYALTY_POOL_MAX="8",
            LOYALTY_POOL_IDLE_SECONDS="5",
            # Cheap hashes, as the integration tests have them; the bench measures the real ones.
            IDENTITY_ARGON2_TIME_COST="1",
            IDENTITY_ARGON2_MEMORY_KIB="1024",
            IDENTITY_DEV_CODES_DIR=str(self.codes_dir),
            # The settlement is the operator's `settle` below, not the job's tick meanwhile
            # (which would hold the lock and make `settle` say so).
            GROWTH_SETTLEMENT_INTERVAL_SECONDS="3600",
            # The storefront confirms purchases itself; every charge the provider is asked
            # for (the renewals) is declined.
            FAKE_PAYMENT_RULE="fail",
            **values,
        )

    # --- lifecycle ------------------------------------------------------------------------
    async def __aenter__(self) -> Suite:
        try:
            await self._start()
        except BaseException:
            await self._stop()
            raise
        return self

    async def __aexit__(self, kind: object, *exc: object) -> None:
        if kind is not None:  # what the processes said, beside the failure
            print(f"the suite's output (honcho), last lines:\n{self.log_tail()}", file=sys.stderr)
        await self._stop()

    async def _start(self) -> None:
        # The databases are made by the services (`serve --migrate`), as under `make run`.
        self.publishers = self._broker_users()
        env = self.env()
        # The processes' combined output (honcho's), to say why something failed.
        log = os.open(self.dir / "honcho.log", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "honcho",
            "-e",
            os.devnull,  # no .env of the checkout's
            "-f",
            str(PROCFILE),
            "-d",
            str(ROOT),
            "start",
            env=env,
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
        )
        os.close(log)  # honcho has its own
        for name, (_, ops_port) in self.ports.items():
            if not await setup._ready(self.process, ops_port):
                raise RuntimeError(f"{name} did not become ready\n{self.log_tail()}")
        # Ready is "database and broker reachable": wait until every queue has its consumer,
        # so that no event published from here on finds a queue missing.
        queues = [q for app in self._apps() for q in self._queue_names(app)]
        queues.append(self.payments_queue)
        await self._consumed(queues)

    @property
    def payments_queue(self) -> str:
        user = publishers.broker_user(self.storefront_url)
        return f"{NAMES.queue_prefix}{user}.fake_payment_provider"

    def _apps(self) -> list[ServiceApp]:
        """The services' apps (not started): what queues they consume."""
        return [
            app_class(
                app_class.settings_class.load(
                    queue_prefix=NAMES.queue_prefix, **self.keys.get(name, {})
                )
            )
            for name, app_class in APPS.items()
        ]

    @staticmethod
    def _queue_names(app: ServiceApp) -> list[str]:
        return [app.settings.queue_prefix + s.queue for s in app.subscriptions()]

    async def _consumed(self, queues: list[str], timeout: float = 60) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        for queue in queues:
            while True:
                channel = await self.amqp.channel()  # a failed passive declare closes it
                try:
                    declared = await channel.declare_queue(queue, passive=True)
                    if declared.declaration_result.consumer_count:
                        break
                except aiormq.exceptions.ChannelNotFoundEntity:
                    pass
                finally:
                    with contextlib.suppress(Exception):
                        await channel.close()
                if self.process is None or self.process.returncode is not None:
                    raise RuntimeError(f"the suite stopped\n{self.log_tail()}")
                if asyncio.get_running_loop().time() > deadline:
                    raise RuntimeError(f"nobody consumes {queue}\n{self.log_tail()}")
                await asyncio.sleep(0.2)

    async def _stop(self) -> None:
        if self.process is not None:
            await setup.stop_replica(self.process)  # honcho stops every process it runs
        channel = await self.amqp.channel()
        try:
            queues = [q for app in self._apps() for q in self._queue_names(app)]
            for queue in queues:
                for name in (queue, f"{queue}.dlq"):
                    await channel.queue_delete(name, if_unused=False, if_empty=False)
            if self.urls:
                await channel.queue_delete(self.payments_queue, if_unused=False, if_empty=False)
            await channel.queue_delete(NAMES.unrouted, if_unused=False, if_empty=False)
            for exchange in (NAMES.events, NAMES.commerce, NAMES.dead_letters, NAMES.unrouted):
                await channel.exchange_delete(exchange)
        finally:
            await channel.close()
        shutil.rmtree(self.dir, ignore_errors=True)
        # Each takes a second or more (a checkpoint, a rabbitmqctl): all at once.
        await asyncio.gather(
            *(servers.drop_database(dsn) for dsn in self.databases.values()),
            *(
                asyncio.to_thread(broker_users.delete_users, servers.RABBITMQCTL, [user])
                for user in self._users
            ),
        )

    def log_tail(self, lines: int = 60) -> str:
        """The end of the processes' combined output."""
        path = self.dir / "honcho.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    # --- operator commands ----------------------------------------------------------------
    async def command(self, service: str, *args: str, at: dt.datetime | None = None) -> str:
        """`python -m services.<service> ARGS` with the services' environment; `at` makes it
        act at that instant (<SVC>_DEV_COMMAND_TIME, development only). Its stdout."""
        values = {f"{service.upper()}_DEV_COMMAND_TIME": at.isoformat()} if at else {}
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            f"services.{service}",
            *args,
            env=self.env(**values),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=ROOT,
        )
        out, err = await asyncio.wait_for(process.communicate(), 60)
        assert process.returncode == 0, f"{service} {' '.join(args)}: {err.decode()[-2000:]}"
        return out.decode()


assert set(APPS) == set(PORTS), "a service the Procfile runs is missing here"
