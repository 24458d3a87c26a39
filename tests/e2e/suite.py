"""The whole suite as `make run` starts it: honcho runs deploy/local/Procfile, every service and
the fake payment provider a process of its own (tools/suite/processes.py), on this test run's
PostgreSQL and RabbitMQ.

The suite gets databases, exchanges, queues and broker users of its own (names under
`test.<run>.e2e.`), apart from the services the integration tests run in-process meanwhile:
those would otherwise consume its events and answer them on the same exchange. Its operator
commands (`python -m services.<svc> …`) run with the services' own environment, and may act at
another instant (`<SVC>_DEV_COMMAND_TIME`, development only: kit.clock.command_time).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import shutil
import sys
import tempfile
from pathlib import Path

import aio_pika

from services.kit import publishers
from tests.support import servers
from tools import broker_users
from tools.suite import processes
from tools.suite.processes import APPS, ROOT

__all__ = ["APPS", "NAMES", "PROCFILE", "ROOT", "Suite"]

PROCFILE = processes.PROCFILE  # what honcho runs (a test may run another)
PREFIX = f"test.{servers.RUN}.e2e."
NAMES = publishers.Names(
    events=f"{PREFIX}loyalty.events",
    commerce=f"{PREFIX}commerce.events",
    dead_letters=f"{PREFIX}loyalty.dlx",
    unrouted=f"{PREFIX}loyalty.unrouted",
    queue_prefix=PREFIX,
)


class Suite(processes.Wiring):
    """Entered with `async with`: broker users imported, honcho started and every service
    ready and consuming (each makes its database, `serve --migrate`, as under `make run`); on
    leaving, all of it stopped and removed."""

    def __init__(self, amqp: aio_pika.abc.AbstractRobustConnection) -> None:
        super().__init__(NAMES)
        self.amqp = amqp  # the run's administrative connection (cleaning up)
        self.databases = {name: servers.database_url(f"e2e_{name}") for name in APPS}
        self.dir = Path(tempfile.mkdtemp(prefix="loyalty-e2e-"))
        self.log = self.dir / "honcho.log"  # the processes' combined output
        self.codes_dir = self.dir / "dev-codes"  # the development code sender's files
        self.process: asyncio.subprocess.Process | None = None

    def env(self, **values: str) -> dict[str, str]:
        """The environment `make run` gives the processes (deploy/local/run.sh), with this
        suite's servers, databases, names, ports and keys, and `values`."""
        return self.environment(
            os.environ,
            **{f"{name.upper()}_DATABASE_URL": dsn for name, dsn in self.databases.items()},
            **processes.settings_for_checks(self.codes_dir),
            # The run's servers are shared by every app of the run (100 connections).
            LOYALTY_POOL_MIN="1",
            LOYALTY_POOL_MAX="8",
            LOYALTY_POOL_IDLE_SECONDS="5",
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
        prefix = f"test-{servers.RUN}-e2e-"
        self.make_broker_users(servers.AMQP_URL, servers.RABBITMQCTL, prefix=prefix)
        self.process = await processes.start_honcho(self.log, self.env(), procfile=PROCFILE)
        for name, (_, ops_port) in self.ports.items():
            if not await processes.ready(self.process, ops_port):
                raise RuntimeError(f"{name} did not become ready\n{self.log_tail()}")
        await self._consumed([*self.consumer_queues(), self.payments_queue])

    async def _consumed(self, queues: list[str], timeout: float = 60) -> None:
        def running(queue: str) -> None:
            if self.process is None or self.process.returncode is not None:
                raise RuntimeError(f"the suite stopped\n{self.log_tail()}")

        try:
            await processes.wait_consumed(self.amqp, queues, timeout, running)
        except TimeoutError as exc:
            raise RuntimeError(f"{exc}\n{self.log_tail()}") from None

    async def _stop(self) -> None:
        if self.process is not None:
            await processes.stop(self.process, timeout=60)  # honcho stops every process it runs
        channel = await self.amqp.channel()
        try:
            for queue in self.consumer_queues():
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
                for user in self.broker_users
            ),
        )

    def log_tail(self, lines: int = 60) -> str:
        """The end of the processes' combined output."""
        return processes.log_tail(self.log, lines)

    # --- operator commands ----------------------------------------------------------------
    async def command(self, service: str, *args: str, at: dt.datetime | None = None) -> str:
        """`python -m services.<service> ARGS` with the services' environment; `at` makes it
        act at that instant (<SVC>_DEV_COMMAND_TIME, development only). Its stdout."""
        values = {f"{service.upper()}_DEV_COMMAND_TIME": at.isoformat()} if at else {}
        done = await processes.run_command(service, *args, env=self.env(**values), timeout=60)
        assert done.returncode == 0, f"{service} {' '.join(args)}: {done.stderr[-2000:]}"
        return done.stdout
