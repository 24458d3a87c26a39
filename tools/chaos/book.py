"""What the load's clients did and were told: every acknowledged request (to replay it), every
acknowledged storefront event (to publish it again), the answers that were not answers (a
process or server away) and the refusals nobody expected.

A client asks again with the same request id (or publishes again with the same event id) until
it has an answer: an acknowledged request is one whose answer it holds.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aio_pika
import grpc
from google.protobuf.message import Message

from loyalty_storefront import Storefront

# What a client cannot call an answer: the process, the database or the broker was away, or
# the call was cut. INTERNAL is counted apart (it is the service's fault) but asked again too.
RETRY = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.ABORTED,
    grpc.StatusCode.CANCELLED,
    grpc.StatusCode.UNKNOWN,
    grpc.StatusCode.INTERNAL,
}
CALL_TIMEOUT = 10.0


class GaveUp(Exception):
    """No answer before the load's last deadline."""


@dataclass
class Ack:
    """An acknowledged call: who made it, on which stub, and what it was told."""

    caller: str
    stub: str
    method: str
    request: Message
    response: Message


@dataclass
class Published:
    """A storefront event the broker confirmed, with the id it keeps."""

    event_id: str
    message: Message


@dataclass
class Book:
    stubs: dict[str, Any]
    metadata: dict[str, tuple[tuple[str, str], ...]]
    storefront: Storefront | None = None
    deadline: float = float("inf")  # monotonic: after it, a client stops asking again
    acks: list[Ack] = field(default_factory=list)
    published: list[Published] = field(default_factory=list)
    retried: Counter[str] = field(default_factory=Counter)  # why a call or publish was repeated
    unexpected: list[str] = field(default_factory=list)  # refusals the clients' models exclude
    gave_up: int = 0  # requests or events still unanswered at the deadline
    rng: random.Random = field(default_factory=random.Random)

    async def call(self, caller: str, stub: str, method: str, request: Message) -> Any:
        """The call's answer, asked again (same request, same id) until there is one; a
        refusal is raised as the AioRpcError it is."""
        response = await self.ask(
            getattr(self.stubs[stub], method), request, self.metadata[caller], f"{stub}.{method}"
        )
        if getattr(request, "request_id", ""):
            self.acks.append(Ack(caller, stub, method, request, response))
        return response

    async def read(self, caller: str, stub: str, method: str, request: Message) -> Any:
        """A read, asked again while the suite is away (not recorded)."""
        return await self.ask(getattr(self.stubs[stub], method), request, self.metadata[caller])

    async def ask(
        self, method: Callable[..., Awaitable[Any]], request: Message, metadata, counted: str = ""
    ) -> Any:
        """`method(request)` with `metadata`, asked again while the suite is away, each repeat
        counted in `retried` under the name `counted` if one is given (not recorded): a call, a
        read, the set-up's calls (tools.suite's `Invoke`)."""
        pause = 0.2
        while True:
            try:
                return await method(request, metadata=metadata, timeout=CALL_TIMEOUT)
            except grpc.aio.AioRpcError as exc:
                if exc.code() not in RETRY:
                    raise
                if counted:
                    self.retried[f"{counted}: {exc.code().name}"] += 1
                await self._pause(pause)
                pause = min(2.0, pause * 2)

    async def publish(self, message: Message, event_id: str, record: bool = True) -> None:
        """Publish a storefront event until the broker confirms it, always with `event_id`."""
        assert self.storefront is not None
        pause = 0.2
        while True:
            try:
                async with asyncio.timeout(CALL_TIMEOUT):
                    await self.storefront.publish(message, event_id=event_id)
            except (
                TimeoutError,
                aio_pika.exceptions.AMQPError,
                ConnectionError,
                RuntimeError,
            ) as exc:
                self.retried[f"publish {message.DESCRIPTOR.name}: {type(exc).__name__}"] += 1
                await self._pause(pause)
                pause = min(2.0, pause * 2)
                continue
            if record:
                self.published.append(Published(event_id, message))
            return

    async def _pause(self, seconds: float) -> None:
        if time.monotonic() > self.deadline:
            self.gave_up += 1
            raise GaveUp()
        await asyncio.sleep(seconds * (0.5 + self.rng.random()))

    def refused(self, what: str, exc: grpc.aio.AioRpcError) -> None:
        """A refusal the client's model of its own members said could not happen."""
        self.unexpected.append(f"{what}: {exc.code().name} {exc.details()}")
