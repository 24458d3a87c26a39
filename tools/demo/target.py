"""Where the suite is and how the demo calls it: gRPC stubs with retries, bounded concurrency,
waiting until the suite is quiet, and the file keeping what the API shows only once."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import aiohttp
import grpc

T = TypeVar("T")
R = TypeVar("R")
Metadata = tuple[tuple[str, str], ...]
# `command(service, *args, at=instant)`: `python -m services.<service> ARGS` with the services'
# environment, acting at `at` (<SVC>_DEV_COMMAND_TIME, development only) when given; its stdout
# (CommandFailed when it fails).
Command = Callable[..., Awaitable[str]]

# Calls worth repeating with the same request id: the suite said so (a load or rate limit, a
# dependency away for a moment).
RETRIED = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED)
ATTEMPTS = 8
CONCURRENCY = 24  # calls or publishes in flight at once: the services run on two cores
# The counters that move while anything is still happening: events relayed, applied, skipped
# as duplicates, dead-lettered, failed or put off.
MOVING = (
    "events_published_total",
    "events_consumed_total",
    "inbox_duplicates_total",
    "events_dead_lettered_total",
    "events_failed_total",
    "events_delayed_total",
)
QUIET_SECONDS = 1.5  # longer than the outbox relay's poll fallback (1 s)


@dataclass
class Target:
    """The suite the demo seeds: `make run`'s services, or a test's."""

    grpc: dict[str, str]  # service → host:port
    ops: dict[str, str]  # service → http://host:port of its ops server
    storefront_url: str  # the storefront's broker user
    command: Command
    secrets_file: Path
    events_exchange: str = "loyalty.events"
    commerce_exchange: str = "commerce.events"
    queue_prefix: str = ""
    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("Asia/Shanghai"))


class CommandFailed(RuntimeError):
    """An operator command exited with an error; the message is what it printed on stderr."""


def ident(seed: int, *what: object) -> str:
    """A request or event id for one mutation of the seed's data set: the same in every run."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"loyalty-demo:{seed}:" + ":".join(map(str, what))))


def reason(exc: grpc.aio.AioRpcError) -> str:
    """The error's ErrorInfo reason, from the plain-text trailer every service adds."""
    for key, value in exc.trailing_metadata() or ():
        if key == "error-reason":
            return str(value)
    return ""


async def call(method: Callable[..., Awaitable[R]], request: Any, metadata: Metadata = ()) -> R:
    """`method(request)`, repeated (same request, so same request id) while the suite asks for
    a retry."""
    for attempt in range(ATTEMPTS):
        try:
            return await method(request, metadata=metadata, timeout=60)
        except grpc.aio.AioRpcError as exc:
            # A rate limit of identity's is counted in minutes or hours: no use waiting here.
            if (
                exc.code() not in RETRIED
                or reason(exc) == "RATE_LIMITED"
                or attempt == ATTEMPTS - 1
            ):
                raise
            await asyncio.sleep(min(5.0, 0.2 * 2**attempt))
    raise AssertionError("unreachable")


async def each(
    items: Iterable[T], work: Callable[[T], Awaitable[R]], limit: int = CONCURRENCY
) -> list[R]:
    """`work(item)` for every item, at most `limit` at once; the results in the items' order.
    The first failure stops the rest."""
    gate = asyncio.Semaphore(limit)

    async def one(item: T) -> R:
        async with gate:
            return await work(item)

    tasks = [asyncio.ensure_future(one(item)) for item in items]
    try:
        return list(await asyncio.gather(*tasks))
    finally:
        for task in tasks:
            task.cancel()


async def until(check: Callable[[], Awaitable[bool]], what: str, timeout: float = 120) -> None:
    """Wait until `check()` holds (polled), or fail saying what did not happen."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"the suite did not {what} within {timeout:.0f} s")
        await asyncio.sleep(0.3)


class Meter:
    """The services' own counters, read from their ops servers' /metrics."""

    def __init__(self, ops: dict[str, str]) -> None:
        self.ops = ops

    async def totals(self, names: Iterable[str]) -> dict[str, float]:
        """Each metric of `names` summed over its labels and the services."""
        wanted = set(names)
        found = dict.fromkeys(wanted, 0.0)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
            for base in self.ops.values():
                async with session.get(f"{base}/metrics") as response:
                    text = await response.text()
                for line in text.splitlines():
                    name = line.split("{", 1)[0].split(" ", 1)[0]
                    if name in wanted:
                        found[name] += float(line.rsplit(" ", 1)[1])
        return found

    async def quiet(self, what: str, timeout: float = 600) -> None:
        """Wait until nothing moves: no event relayed or consumed anywhere for QUIET_SECONDS
        (what one phase set going has reached every consumer before the next begins)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        last, since = None, loop.time()
        while True:
            now = await self.totals(MOVING)
            if now != last:
                last, since = now, loop.time()
            elif loop.time() - since >= QUIET_SECONDS:
                return
            if loop.time() > deadline:
                raise TimeoutError(f"the suite was still busy with {what} after {timeout:.0f} s")
            await asyncio.sleep(0.25)


class Secrets:
    """What the API shows once and the demo needs again: client secrets and the gift cards'
    PINs (the printer's copy). An owner-only JSON file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        # clients: client id → secret ("admin": the administrator's client id); cards: batch
        # id → card number → PIN.
        self.data: dict[str, dict[str, Any]] = {"clients": {}, "cards": {}}
        if path.exists():
            self.data.update(json.loads(path.read_text()))

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        temporary.touch(mode=0o600)
        temporary.write_text(json.dumps(self.data, indent=2, sort_keys=True) + "\n")
        os.replace(temporary, self.path)
