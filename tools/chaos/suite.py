"""The five services and the fake payment provider, each a process of its own as `make run`
starts them (tools/suite/processes.py: deploy/local/Procfile's commands), on chaos's private
servers: every process can be killed, stopped and started again by name, and each keeps its log
in `<state>/logs/`.

Broker users are made as `make run` makes them, with passwords of this run; the keys are this
run's too (the data dies with the servers).
"""

from __future__ import annotations

import asyncio
import os
import signal
import time

import aio_pika

from tools.suite import processes
from tools.suite.processes import APPS, PAYMENTS

from .servers import Servers

__all__ = ["APPS", "PAYMENTS", "Suite"]


class Suite(processes.Wiring):
    """Every process of the suite; `start()`, `kill(name, sig)`, `launch(name)`, `stop()`."""

    def __init__(self, servers: Servers) -> None:
        super().__init__()
        self.servers = servers
        self.logs = servers.state / "logs"
        self.codes_dir = servers.state / "dev-codes"
        self.processes: dict[str, asyncio.subprocess.Process] = {}

    def database(self, service: str) -> str:
        return f"{self.servers.pg_url.rstrip('/')}/loyalty_{service}"

    def env(self) -> dict[str, str]:
        """What deploy/local/run.sh gives the processes, with chaos's servers, ports and keys."""
        inherited = {
            k: v for k, v in os.environ.items() if not k.startswith(("LOYALTY_", *_PREFIXES))
        }
        return self.environment(
            inherited,
            LOYALTY_PG_URL=self.servers.pg_url,
            LOYALTY_AMQP_URL=self.servers.amqp_url,
            **processes.settings_for_checks(self.codes_dir),
            IDENTITY_ASSERTION_VERIFIER="dev-plain",
            # Every registration comes from this one address: its limits are the load's, not
            # an attacker's (the per-address limits guard a real deployment).
            IDENTITY_REGISTRATIONS_PER_SOURCE_HOUR="100000",
            IDENTITY_CODES_PER_SOURCE_HOUR="100000",
            IDENTITY_CODES_PER_ADDRESS_MINUTE="100",
            IDENTITY_CODES_PER_ADDRESS_HOUR="100",
            IDENTITY_CODES_PER_ADDRESS_DAY="100",
            # The load's checkout holds outlive any run: one lapsing is not a lost effect.
            POINTS_HOLD_TIMEOUT_SECONDS="86400",
            GIFTCARD_HOLD_SECONDS="86400",
            FAKE_PAYMENT_RULE="succeed",
        )

    # --- lifecycle ------------------------------------------------------------------------
    async def start(self) -> None:
        self.make_broker_users(self.servers.amqp_url, self.servers.ctl)
        # Identity first: it makes its signing keys, which the others fetch as they start.
        await self.launch("identity")
        await asyncio.gather(*(self.launch(n) for n in [*APPS, PAYMENTS] if n != "identity"))
        await self._consumed([*self.consumer_queues(), self.payments_queue], 90)

    async def launch(self, name: str, timeout: float = 60) -> float:
        """Start the process `name` and wait until it is ready; the seconds it took."""
        began = time.monotonic()
        log = self.logs / f"{name}.log"
        self.processes[name] = process = await processes.start_process(name, log, self.env())
        if name == PAYMENTS:  # no ops port: ready once it consumes its queue again
            await self._consumed([self.payments_queue], timeout)
        elif not await processes.ready(process, self.ports[name][1], timeout):
            raise RuntimeError(f"{name} did not become ready\n{self.log_tail(name)}")
        return time.monotonic() - began

    async def _consumed(self, queues: list[str], timeout: float) -> None:
        connection = await aio_pika.connect_robust(self.servers.amqp_url)
        try:
            await processes.wait_consumed(connection, queues, timeout)
        finally:
            await connection.close()

    async def kill(self, name: str, sig: int, timeout: float = 60) -> tuple[float, int | None]:
        """Send `sig` and wait for the process to end: (seconds it took, exit code). One that
        outlives `timeout` after SIGTERM is killed (exit code None says so)."""
        began = time.monotonic()
        code = await processes.stop(self.processes[name], sig, timeout)
        return time.monotonic() - began, code

    async def stop(self) -> None:
        for name in list(self.processes):
            if self.processes[name].returncode is None:
                await self.kill(name, signal.SIGTERM, timeout=30)

    def exited(self) -> list[tuple[str, int]]:
        """Processes that ended by themselves (not by a fault): (name, exit code)."""
        return [(n, p.returncode) for n, p in self.processes.items() if p.returncode is not None]

    def log_tail(self, name: str, lines: int = 40) -> str:
        return processes.log_tail(self.logs / f"{name}.log", lines)

    # --- operator commands ----------------------------------------------------------------
    async def command(self, service: str, *args: str, timeout: float = 120) -> tuple[int, str]:
        """`python -m services.<service> ARGS` with the services' environment: (exit code,
        stdout)."""
        done = await processes.run_command(service, *args, env=self.env(), timeout=timeout)
        if done.returncode not in (0, 1):
            raise RuntimeError(f"{service} {' '.join(args)}: {done.stderr[-2000:]}")
        return done.returncode, done.stdout


# Settings of one service (IDENTITY_…, POINTS_…) a caller's environment may hold: chaos's own win.
_PREFIXES = tuple(f"{name.upper()}_" for name in APPS) + ("STOREFRONT_", "FAKE_PAYMENT_")
