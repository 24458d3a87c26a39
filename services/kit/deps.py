"""One object with what a service's servicers, use cases, handlers and jobs may use."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import asyncpg

from .clock import Clock
from .config import ServiceSettings
from .outbox import Outbox

S = TypeVar("S", bound=ServiceSettings)


@dataclass
class Deps(Generic[S]):
    """Built once per process by the app. The pool exists once the app has started (or a
    command has opened it); a service with more (keys, hashers) subclasses this."""

    settings: S
    outbox: Outbox
    clock: Clock = field(default_factory=Clock)
    _pool: asyncpg.Pool | None = None

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("the database pool is not open: start the app first")
        return self._pool

    @pool.setter
    def pool(self, pool: asyncpg.Pool | None) -> None:
        self._pool = pool

    def now(self) -> dt.datetime:
        return self.clock.now()
