"""Waiting for something the servers do on their own time (a relay, a consumer, a job)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def wait_until(
    predicate: Callable[[], Awaitable[T]], timeout: float, what: str, *, interval: float = 0.05
) -> T:
    """Poll `predicate` until it returns something truthy, and return that; fail naming `what`
    once `timeout` seconds have passed. The predicate runs once more after the deadline, so a
    slow poll is not a failure by itself."""
    deadline = time.monotonic() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(interval)
