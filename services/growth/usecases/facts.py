"""Recording the facts the consumers parse (in the inbox transaction)."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

import asyncpg

from ..deps import GrowthDeps
from ..domain.facts import Fact
from ..store import facts as store


@dataclass(frozen=True)
class Facts:
    deps: GrowthDeps

    async def record(self, conn: asyncpg.Connection, fact: Fact) -> bool:
        """Keep `fact` once per key; True when it was new."""
        return await store.record(conn, fact)

    async def member_seen(
        self, conn: asyncpg.Connection, member_id: uuid.UUID, at: dt.datetime
    ) -> None:
        await store.member_seen(conn, member_id, at)

    async def member_closed(
        self, conn: asyncpg.Connection, member_id: uuid.UUID, at: dt.datetime
    ) -> None:
        await store.member_closed(conn, member_id, at)
