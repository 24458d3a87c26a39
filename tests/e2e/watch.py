"""What the storefront sees of the suite: every suite event of the watched types, read through
the storefront client (loyalty_storefront) from a queue of the storefront's own, as parsed
proto messages."""

from __future__ import annotations

import asyncio
from typing import Any, TypeVar

from google.protobuf.message import Message

from loyalty_storefront import Storefront, Subscription, SuiteEvent

M = TypeVar("M", bound=Message)


class Watch:
    """Collects the events of `subscription` in the background (`async with`)."""

    def __init__(self, subscription: Subscription[Any]) -> None:
        self.subscription = subscription
        self.events: list[SuiteEvent[Any]] = []
        self._arrived = asyncio.Condition()
        self._task: asyncio.Task | None = None

    @classmethod
    async def start(cls, storefront: Storefront, name: str, *types: type[Message]) -> Watch:
        watch = cls(await storefront.subscribe(name, *types))
        watch._task = asyncio.create_task(watch._collect(), name=f"watch-{name}")
        return watch

    async def _collect(self) -> None:
        async for event in self.subscription:
            async with self._arrived:
                self.events.append(event)
                self._arrived.notify_all()

    async def stop(self) -> None:
        await self.subscription.close(delete_queue=True)
        if self._task is not None:
            await self._task

    def of(self, message_class: type[M], **fields: object) -> list[M]:
        """The payloads of the events of a type whose fields have the values given."""
        return [
            e.message
            for e in self.events
            if isinstance(e.message, message_class)
            and all(getattr(e.message, k) == v for k, v in fields.items())
        ]

    async def wait(
        self, message_class: type[M], count: int = 1, timeout: float = 10.0, **fields: object
    ) -> list[M]:
        """`of(…)` once it holds at least `count` events (else the test fails, naming them)."""

        def enough() -> bool:
            return len(self.of(message_class, **fields)) >= count

        try:
            async with asyncio.timeout(timeout), self._arrived:
                await self._arrived.wait_for(enough)
        except TimeoutError:
            raise AssertionError(
                f"{count} {message_class.__name__} {fields} expected within {timeout} s, "
                f"saw {len(self.of(message_class, **fields))}"
            ) from None
        return self.of(message_class, **fields)

    def publishers(self) -> dict[str, set[str | None]]:
        """The broker users seen publishing, by event type."""
        found: dict[str, set[str | None]] = {}
        for event in self.events:
            found.setdefault(event.type, set()).add(event.publisher)
        return found
