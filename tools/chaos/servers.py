"""Chaos's own PostgreSQL cluster and RabbitMQ node, which it may stop and restart at will.

They are started by deploy/local/infra.sh with a state directory of chaos's own
(`.local/chaos/`, LOYALTY_STATE_DIR) and other ports (CHAOS_PG_PORT, CHAOS_AMQP_PORT): the
script then keeps the cluster's data there (or in a folder of its own under /var/tmp when the
postgres user cannot enter the checkout) and runs the node as `loyalty-<port>@localhost` with
its own distribution port, cookie, Mnesia and logs, so nothing is shared with a server of the
machine (or of `make run`) but epmd. Those servers are never touched: both ports must be free
before anything starts, and the URLs infra.sh hands back must name them.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import pwd
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "deploy" / "local" / "infra.sh"
STOP = ROOT / "deploy" / "local" / "stop.sh"
# The variables that would make infra.sh use another server than chaos's own.
_FOREIGN = ("LOYALTY_PG_URL", "LOYALTY_AMQP_URL", "LOYALTY_RABBITMQCTL", "LOYALTY_INFRA_LOCKED")


def listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def dist_port(amqp_port: int) -> int:
    """The Erlang distribution port infra.sh gives a node on `amqp_port`."""
    dist = amqp_port + 20000
    return dist if dist <= 65535 else amqp_port - 10000


@dataclass
class Servers:
    """The private servers: `start()`, `restart_postgres()`, `restart_broker()`, `remove()`."""

    state: Path
    pg_port: int
    amqp_port: int
    pg_url: str = ""
    amqp_url: str = ""
    ctl: str = ""  # rabbitmqctl for the node (infra.sh writes it)

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in _FOREIGN}
        env.update(
            LOYALTY_STATE_DIR=str(self.state),
            LOYALTY_PG_PORT=str(self.pg_port),
            LOYALTY_AMQP_PORT=str(self.amqp_port),
        )
        return env

    @property
    def _pg_fallback(self) -> Path:
        """Where infra.sh keeps the cluster when the postgres user cannot enter the checkout."""
        digest = hashlib.md5(f"{ROOT}:{self.pg_port}".encode()).hexdigest()[:12]
        return Path(f"/var/tmp/loyalty-pg-{digest}")

    def _pgdata(self) -> Path:
        link = self.state / "pg.link"
        return (link.resolve() if link.exists() else self.state / "pg") / "data"

    # --- lifecycle ------------------------------------------------------------------------
    async def start(self) -> None:
        """Fresh servers: whatever an interrupted run left is stopped and removed first."""
        await self.remove()
        for port in (self.pg_port, self.amqp_port, dist_port(self.amqp_port)):
            if listening(port):
                raise SystemExit(
                    f"chaos: port {port} is in use; chaos runs private servers on free ports "
                    "(set CHAOS_PG_PORT / CHAOS_AMQP_PORT)"
                )
        out = await self._infra()
        self.pg_url, self.amqp_url, self.ctl = out
        for url, port in ((self.pg_url, self.pg_port), (self.amqp_url, self.amqp_port)):
            if urlsplit(url).port != port:  # never the machine's servers
                raise SystemExit(f"chaos: infra.sh gave {url!r}, not a server on port {port}")
        if not self.ctl:
            raise SystemExit("chaos: infra.sh gave no rabbitmqctl for the private node")

    async def _infra(self) -> tuple[str, str, str]:
        """Run infra.sh (which starts what is not listening) and read what it exports."""
        script = (
            f'out=$(bash {INFRA}) && eval "$out" && '
            'printf "%s\\n%s\\n%s\\n" "$LOYALTY_PG_URL" "$LOYALTY_AMQP_URL" "${LOYALTY_RABBITMQCTL:-}"'
        )
        done = await asyncio.to_thread(
            subprocess.run,
            ["bash", "-c", script],
            env=self._env(),
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode != 0:
            raise SystemExit(f"chaos: infra.sh failed:\n{done.stderr[-3000:]}")
        pg, amqp, ctl = (done.stdout.splitlines() + ["", "", ""])[:3]
        return pg, amqp, ctl

    async def remove(self) -> None:
        """Stop both servers (deploy/local/stop.sh on chaos's state) and delete their data."""
        if self.state.exists():
            await asyncio.to_thread(
                subprocess.run, ["bash", str(STOP)], env=self._env(), capture_output=True
            )
        pgdata = self._pg_fallback / "data"
        if (pgdata / "postmaster.pid").exists():  # a run interrupted before pg.link was made
            await self._pg_ctl(pgdata, "stop", "-m", "immediate", "-w")
        for path in (self._pg_fallback, self.state):
            await asyncio.to_thread(shutil.rmtree, path, True)

    # --- faults ---------------------------------------------------------------------------
    async def restart_postgres(self, pause: float) -> None:
        """Stop the cluster as a crash would (immediate: no checkpoint, every backend cut),
        wait `pause`, start it again: it recovers from its WAL."""
        pgdata = self._pgdata()
        await self._pg_ctl(pgdata, "stop", "-m", "immediate", "-w")
        await asyncio.sleep(pause)
        await self._pg_ctl(
            pgdata, "start", "-w", "-t", "60", "-l", str(pgdata.parent / "postgres.log")
        )

    async def restart_broker(self, pause: float) -> None:
        """Stop the node (every connection cut), wait `pause`, start it again with infra.sh."""
        await asyncio.to_thread(
            subprocess.run, [self.ctl, "-q", "stop"], capture_output=True, timeout=120
        )
        for _ in range(100):  # the listener closes when the node is down
            if not listening(self.amqp_port):
                break
            await asyncio.sleep(0.1)
        else:
            raise RuntimeError("the node did not stop")
        await asyncio.sleep(pause)
        await self._infra()

    async def _pg_ctl(self, pgdata: Path, *args: str) -> None:
        # From a directory the cluster's owner may enter (runuser keeps the working directory).
        done = await asyncio.to_thread(
            subprocess.run,
            _pg_ctl_argv(pgdata, args),
            cwd="/",
            capture_output=True,
            text=True,
            timeout=120,
        )
        if done.returncode != 0 and args[0] != "stop":
            raise RuntimeError(f"pg_ctl {' '.join(args)}: {done.stderr.strip()}")


def _pg_ctl_argv(pgdata: Path, args: tuple[str, ...]) -> list[str]:
    """pg_ctl of the cluster's major version, run as the cluster's owner (postgres, as root)."""
    version = (pgdata / "PG_VERSION").read_text().strip()
    pg_ctl = f"/usr/lib/postgresql/{version}/bin/pg_ctl"
    if not os.path.exists(pg_ctl):
        pg_ctl = shutil.which("pg_ctl") or "pg_ctl"
    owner = pwd.getpwuid(pgdata.stat().st_uid).pw_name
    argv = [pg_ctl, "-D", str(pgdata), *args]
    if owner != pwd.getpwuid(os.getuid()).pw_name:
        argv = ["runuser", "-u", owner, "--", *argv]
    return argv
