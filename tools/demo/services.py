"""The five services as `make run` starts them (tools/suite/processes.py: honcho with
deploy/local/Procfile, in the environment deploy/local/run.sh builds, which tools/demo/demo.sh
builds alike), for `python -m tools.demo`: the same ports, databases, exchanges and broker
users, so that what the demo seeds is what `make run` serves afterwards. The Procfile's payment
provider is left out: the demo runs the same fake provider itself, told whose renewals to
decline (seed.py)."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import socket
from pathlib import Path
from zoneinfo import ZoneInfo

import aio_pika

from services.kit.config import ServiceSettings
from tools.suite import processes

from .target import CommandFailed, Target

STATE = processes.ROOT / ".local" / "demo"
START_SECONDS = 120


def settings() -> dict[str, ServiceSettings]:
    """Each service's settings, from the environment the services get."""
    return {name: app.settings_class.load() for name, app in processes.APPS.items()}


def admin_url() -> str:
    """The broker as its administrator (LOYALTY_AMQP_URL): it may look at every queue."""
    return os.environ.get("LOYALTY_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")


def serving(loaded: dict[str, ServiceSettings]) -> list[str]:
    """The services whose gRPC port something listens on already."""
    found = []
    for name, values in loaded.items():
        with socket.socket() as sock:
            sock.settimeout(0.5)
            if sock.connect_ex(("127.0.0.1", values.grpc_port)) == 0:
                found.append(name)
    return found


async def command(service: str, *args: str, at: dt.datetime | None = None) -> str:
    """`python -m services.<service> ARGS` with the services' environment (`at`: acting at that
    instant, <SVC>_DEV_COMMAND_TIME, development only). Its stdout."""
    env = dict(os.environ)
    if at is not None:
        env[f"{service.upper()}_DEV_COMMAND_TIME"] = at.isoformat()
    done = await processes.run_command(service, *args, env=env, timeout=300)
    if done.returncode:
        raise CommandFailed(f"services.{service} {' '.join(args)}: {done.stderr[-2000:]}")
    return done.stdout


class Running:
    """The services started (`async with`), ready and consuming; stopped on leaving."""

    def __init__(self, loaded: dict[str, ServiceSettings], log: Path) -> None:
        self.loaded = loaded
        self.log = log
        self.process: asyncio.subprocess.Process | None = None

    def target(self) -> Target:
        identity = self.loaded["identity"]
        return Target(
            grpc={name: f"127.0.0.1:{s.grpc_port}" for name, s in self.loaded.items()},
            ops={name: f"http://127.0.0.1:{s.ops_port}" for name, s in self.loaded.items()},
            # Without broker users of its own (make run could not create them) the storefront
            # publishes as everyone does, LOYALTY_AMQP_URL's user.
            storefront_url=os.environ.get("STOREFRONT_AMQP_URL") or admin_url(),
            command=command,
            secrets_file=STATE / "secrets.json",
            events_exchange=identity.events_exchange,
            commerce_exchange=identity.commerce_exchange,
            queue_prefix=identity.queue_prefix,
            zone=ZoneInfo(identity.business_zone),
        )

    async def __aenter__(self) -> Running:
        # In a session of its own: a Ctrl-C reaches the demo, which stops them in order.
        self.process = await processes.start_honcho(
            self.log, names=list(processes.APPS), own_session=True
        )
        try:
            await self._ready()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _ready(self) -> None:
        """Every service answers /readyz and consumes every queue it declares (an event
        published before its queue is bound would reach no one)."""
        assert self.process is not None
        for name, values in self.loaded.items():
            if not await processes.ready(self.process, values.ops_port, START_SECONDS):
                raise SystemExit(f"{name} did not become ready: see {self.log}")

        def running(queue: str) -> None:
            if self.process is None or self.process.returncode is not None:
                raise SystemExit(f"the services stopped: see {self.log}")

        connection = await aio_pika.connect_robust(admin_url())
        try:
            queues = processes.consumer_queues(self.loaded)
            await processes.wait_consumed(connection, queues, START_SECONDS, running)
        except TimeoutError as exc:
            raise SystemExit(f"{exc}: see {self.log}") from None
        finally:
            await connection.close()

    async def stop(self) -> None:
        """SIGTERM to honcho, which stops every service (they drain and exit)."""
        if self.process is not None:
            await processes.stop(self.process, timeout=30)
