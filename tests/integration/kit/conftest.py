"""Kit fixtures: this run's own database with only the kit's tables, on real PostgreSQL."""

from __future__ import annotations

import uuid

import pytest

from services.kit import db
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
def unique():
    """A name no other test (or test run) uses: for exchanges, queues and jobs."""

    def make(what: str) -> str:
        return f"test.{servers.RUN}.{what}.{uuid.uuid4().hex[:8]}"

    return make
