"""The five services and the fake payment provider as processes, as `make run` starts them: the
commands of deploy/local/Procfile, with the environment deploy/local/run.sh gives them.

`Wiring` is what the processes of one suite are given and share: ports, keys, the broker's
exchange and queue names, a broker user per publisher (as tools.broker_users makes them for
`make run`). The functions start the processes (each alone, or honcho with the Procfile as
`make run` does), wait until the suite is ready and consuming, stop a process, and run an
operator command (`python -m services.<service> …`).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import secrets
import shlex
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import aio_pika
import aiohttp
import aiormq

from services.giftcard.app import GiftcardApp
from services.growth.app import GrowthApp
from services.identity.app import IdentityApp
from services.kit import publishers
from services.kit.config import ServiceSettings
from services.kit.ports import PORTS
from services.kit.service import ServiceApp
from services.points.app import PointsApp
from services.subscription.app import SubscriptionApp
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
PAYMENTS = "payments"  # the fake payment provider's process (its name in the Procfile)
# Who publishes, each as a broker user of its own: the services and a storefront (not the
# outside risk and credit systems).
SOURCES = (*APPS, publishers.COMMERCE)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


def new_keys() -> dict[str, dict[str, str]]:
    """The services' keys, new, by service and setting: identity's data and lookup keys,
    giftcard's PIN key, subscription's code key. Identity's development code sender is among
    them: the settings refuse to load without a code sender, and its files are where a
    shopper's one-time code is read."""
    return {
        "identity": {"data_key": _key(), "lookup_key": _key(), "code_sender": "dev-file"},
        "giftcard": {"pin_key": _key()},
        "subscription": {"code_key": _key()},
    }


def consumer_queues(settings: Mapping[str, ServiceSettings]) -> list[str]:
    """Every queue the services of `settings` (by name) consume: their apps made, not started,
    to say which."""
    return [
        values.queue_prefix + subscription.queue
        for name, values in settings.items()
        for subscription in APPS[name](values).subscriptions()
    ]


class Wiring:
    """What the processes of one suite are given: a gRPC and an ops port each (free ones), the
    services' keys (new ones), the broker's names, and a broker user per source
    (`make_broker_users`); `environment()` puts them in the variables the processes read."""

    def __init__(self, names: publishers.Names | None = None) -> None:
        self.names = names or publishers.Names()
        self.ports = {name: (free_port(), free_port()) for name in APPS}
        self.keys = new_keys()
        self.urls: dict[str, str] = {}  # the broker URL of each source's publisher
        self.publishers = ""  # the EVENT_PUBLISHERS spec trusting them
        self.broker_users: list[str] = []  # the users made for this suite (to delete)

    def grpc(self, service: str) -> str:
        return f"127.0.0.1:{self.ports[service][0]}"

    @property
    def storefront_url(self) -> str:
        return self.urls[publishers.COMMERCE]

    def publisher_of(self, source: str) -> str:
        """The broker user publishing a source's events."""
        return publishers.broker_user(self.urls[source])

    @property
    def payments_queue(self) -> str:
        """The fake payment provider's queue (it consumes as the storefront's user)."""
        user = publishers.broker_user(self.storefront_url)
        return f"{self.names.queue_prefix}{user}.fake_payment_provider"

    def consumer_queues(self) -> list[str]:
        """Every queue the services consume."""
        return consumer_queues(
            {
                name: app.settings_class.load(
                    queue_prefix=self.names.queue_prefix, **self.keys.get(name, {})
                )
                for name, app in APPS.items()
            }
        )

    def make_broker_users(self, amqp_url: str, rabbitmqctl: str, prefix: str = "") -> None:
        """A broker user per source, as `make run` makes them (tools.broker_users), with new
        passwords and this suite's names, imported with `rabbitmqctl`. Without a broker to
        administer (no rabbitmqctl) everyone publishes as `amqp_url`'s user."""
        if not rabbitmqctl:
            self.urls = dict.fromkeys(SOURCES, amqp_url)
            self.publishers = f"*={publishers.broker_user(amqp_url)}"
            return
        passwords = {source: secrets.token_urlsafe(16) for source in SOURCES}
        users = broker_users.users_of(passwords, prefix=prefix)
        broker_users.import_definitions(rabbitmqctl, publishers.definitions(users, self.names))
        self.broker_users = [user for user, _ in users.values()]
        self.urls = {
            source: broker_users.url_for(amqp_url, user, password)
            for source, (user, password) in users.items()
        }
        self.publishers = ",".join(f"{source}={user}" for source, (user, _) in users.items())

    def environment(self, base: Mapping[str, str], **values: str) -> dict[str, str]:
        """`base`, with the checkout on the import path (as run.sh exports it), this suite's
        ports, keys, broker users and names, and `values`."""
        env = dict(base)
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "gen")])
        for name, (grpc_port, ops_port) in self.ports.items():
            prefix = name.upper()
            env[f"{prefix}_GRPC_PORT"] = str(grpc_port)
            env[f"{prefix}_OPS_PORT"] = str(ops_port)
            for key, value in self.keys.get(name, {}).items():
                env[f"{prefix}_{key.upper()}"] = value
        for source, url in self.urls.items():
            env[broker_users.env_name(source)] = url
        env.update(
            LOYALTY_EVENTS_EXCHANGE=self.names.events,
            LOYALTY_COMMERCE_EXCHANGE=self.names.commerce,
            LOYALTY_DEAD_LETTER_EXCHANGE=self.names.dead_letters,
            LOYALTY_UNROUTED_EXCHANGE=self.names.unrouted,
            LOYALTY_QUEUE_PREFIX=self.names.queue_prefix,
            LOYALTY_EVENT_PUBLISHERS=self.publishers,
            LOYALTY_JWKS_URL=f"http://127.0.0.1:{self.ports['identity'][1]}/.well-known/jwks.json",
        )
        env.update(values)
        return env


def settings_for_checks(codes_dir: Path) -> dict[str, str]:
    """What a suite run to be checked (a test, chaos) is given alike: logs from WARNING (what
    went wrong, every dead letter's reason), cheap password hashes (many registrations, no
    measure of argon2), one-time codes as files in `codes_dir` (identity's development sender)
    and no settlement meanwhile (a month is settled by the operator's `settle`, if at all: the
    job's tick would hold the lock, and its events are no check's)."""
    return {
        "LOYALTY_LOG_LEVEL": "WARNING",
        "IDENTITY_ARGON2_TIME_COST": "1",
        "IDENTITY_ARGON2_MEMORY_KIB": "1024",
        "IDENTITY_DEV_CODES_DIR": str(codes_dir),
        "GROWTH_SETTLEMENT_INTERVAL_SECONDS": "3600",
    }


# --- starting ---------------------------------------------------------------------------------
def procfile_command(name: str, procfile: Path = PROCFILE) -> list[str]:
    """The Procfile's command of the process `name` (run from the checkout, as honcho runs it)."""
    for line in procfile.read_text().splitlines():
        found, _, command = line.partition(":")
        if not line.startswith("#") and found.strip() == name:
            return shlex.split(command)
    raise KeyError(f"{name} is not in {procfile}")


def _log(path: Path, append: bool) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = os.O_APPEND if append else os.O_TRUNC
    return os.open(path, os.O_WRONLY | os.O_CREAT | mode, 0o600)


async def start_honcho(
    log: Path,
    env: Mapping[str, str] | None = None,
    names: Sequence[str] = (),
    procfile: Path = PROCFILE,
    own_session: bool = False,
) -> asyncio.subprocess.Process:
    """honcho running the Procfile's processes (`names`, else all) from the checkout, as
    deploy/local/run.sh does, with `env` (else this one's), their combined output in `log`.
    `own_session`: a Ctrl-C of the terminal reaches the caller only, which stops them."""
    fd = _log(log, append=False)
    try:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "honcho",
            "-e",
            os.devnull,  # no .env of the checkout's: the environment is the caller's
            "-f",
            str(procfile),
            "-d",
            str(ROOT),
            "start",
            *names,
            env=env,
            stdout=fd,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=own_session,
        )
    finally:
        os.close(fd)  # honcho has its own


async def start_process(
    name: str, log: Path, env: Mapping[str, str], procfile: Path = PROCFILE
) -> asyncio.subprocess.Process:
    """The Procfile's process `name` alone, from the checkout, its output appended to `log`; in
    a session of its own (a Ctrl-C of the terminal reaches the caller, which stops it)."""
    fd = _log(log, append=True)
    try:
        return await asyncio.create_subprocess_exec(
            *procfile_command(name, procfile),
            env=env,
            cwd=ROOT,
            stdout=fd,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
    finally:
        os.close(fd)


# --- readiness ------------------------------------------------------------------------------
async def ready(process: asyncio.subprocess.Process, ops_port: int, timeout: float = 60) -> bool:
    """Whether the process's /readyz (its database and broker reachable) answers 200 within
    `timeout` s; no longer waited for once the process has ended (a setting it refuses)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
        while process.returncode is None and loop.time() < deadline:
            with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError):
                async with session.get(f"http://127.0.0.1:{ops_port}/readyz") as response:
                    if response.status == 200:
                        return True
            await asyncio.sleep(0.1)
    return False


async def consumed(connection: aio_pika.abc.AbstractConnection, queue: str) -> bool:
    """Whether the queue exists and something consumes it."""
    channel = await connection.channel()  # a failed passive declare closes it
    try:
        declared = await channel.declare_queue(queue, passive=True)
        return bool(declared.declaration_result.consumer_count)
    except aiormq.exceptions.ChannelNotFoundEntity:
        return False
    finally:
        with contextlib.suppress(Exception):
            await channel.close()


async def wait_consumed(
    connection: aio_pika.abc.AbstractConnection,
    queues: Sequence[str],
    timeout: float = 60,
    check: Callable[[str], None] | None = None,
) -> None:
    """Wait until every queue has its consumer: ready is "database and broker reachable", and
    an event published before its queue is bound would reach no one. `check(queue)` runs
    between the looks (it raises to end the wait: the processes stopped…); TimeoutError after
    `timeout` s."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    for queue in queues:
        while not await consumed(connection, queue):
            if check is not None:
                check(queue)
            if loop.time() > deadline:
                raise TimeoutError(f"nobody consumes {queue}")
            await asyncio.sleep(0.2)


# --- stopping, commands, logs ---------------------------------------------------------------
async def stop(
    process: asyncio.subprocess.Process, sig: int = signal.SIGTERM, timeout: float = 30
) -> int | None:
    """Send `sig` (unless the process has ended) and wait for it to end: its exit code. One
    still running `timeout` s later is killed, with its process group when it leads one
    (honcho's processes); None says so."""
    if process.returncode is None:  # one that ended by itself says why, not this
        with contextlib.suppress(ProcessLookupError):  # it ended meanwhile
            process.send_signal(sig)
    try:
        return await asyncio.wait_for(process.wait(), timeout)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            if os.getpgid(process.pid) == process.pid:
                os.killpg(process.pid, signal.SIGKILL)
            else:
                process.kill()
        await process.wait()
        return None


async def run_command(
    service: str, *args: str, env: Mapping[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """`python -m services.<service> ARGS` from the checkout with `env` (the services'): its
    exit code, stdout and stderr. Killed after `timeout` s (TimeoutError)."""
    argv = [sys.executable, "-m", f"services.{service}", *args]
    process = await asyncio.create_subprocess_exec(
        *argv,
        env=env,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
        raise
    code = process.returncode or 0
    return subprocess.CompletedProcess(argv, code, out.decode(), err.decode())


def log_tail(path: Path, lines: int = 60) -> str:
    """The end of a process's log."""
    text = path.read_text(errors="replace") if path.exists() else ""
    return "\n".join(text.splitlines()[-lines:])


assert set(APPS) == set(PORTS), "a service the Procfile runs is missing here"
