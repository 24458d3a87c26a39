"""Kit fixtures: this run's own database with only the kit's tables, on real PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import uuid

import aio_pika
import pytest

from services.kit import db, outbox
from tests.support import servers

# What the tests' handlers and jobs write: one row per effect, so "exactly once" is countable.
_TEST_TABLES = """
CREATE TABLE IF NOT EXISTS kit_test_effects (
    id         bigserial PRIMARY KEY,
    kind       text        NOT NULL,
    key        text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
)
"""


@pytest.fixture(scope="session")
async def kit_dsn():
    dsn = servers.database_url("kit")
    await servers.fresh_database(dsn)
    await db.migrate(dsn)
    yield dsn
    await servers.drop_database(dsn)


@pytest.fixture(scope="session")
async def kit_pool(kit_dsn):
    pool = await db.create_pool(kit_dsn, min_size=2, max_size=20)
    await pool.execute(_TEST_TABLES)
    yield pool
    await pool.close()


@pytest.fixture
async def kit_db(kit_pool):
    """The kit pool on empty tables."""
    await servers.truncate_all(kit_pool)
    return kit_pool


@pytest.fixture
async def unique(amqp):
    """A name no other test (or test run) uses: for exchanges and jobs. Exchanges declared
    under these names are durable, so they are deleted after the test."""
    made: list[str] = []

    def make(what: str) -> str:
        made.append(f"test.{servers.RUN}.{what}.{uuid.uuid4().hex[:8]}")
        return made[-1]

    yield make
    channel = await amqp.channel()
    for name in made:
        with contextlib.suppress(Exception):
            await channel.exchange_delete(name)
    with contextlib.suppress(Exception):
        await channel.close()


@pytest.fixture
async def connect():
    """Robust broker connections (direct or through a proxy), closed after the test even when it
    fails: a robust connection left open would try to reconnect until the process ends."""
    made: list[aio_pika.abc.AbstractRobustConnection] = []

    async def make(url: str = servers.AMQP_URL, **kwargs):
        made.append(await aio_pika.connect_robust(url, **kwargs))
        return made[-1]

    yield make
    for connection in made:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(connection.close(), 5)


@pytest.fixture
async def make_relay():
    """outbox.Relay, stopped after the test."""
    made: list[outbox.Relay] = []

    def make(*args, **kwargs) -> outbox.Relay:
        made.append(outbox.Relay(*args, **kwargs))
        return made[-1]

    yield make
    for relay in made:
        with contextlib.suppress(Exception):
            await relay.stop(timeout=5)
