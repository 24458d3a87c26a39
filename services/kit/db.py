"""PostgreSQL: database creation, migrations (yoyo, plain SQL), the asyncpg pool, transactions."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from yoyo import get_backend, read_migrations

KIT_MIGRATIONS = Path(__file__).parent / "migrations"


async def ensure_database(dsn: str) -> None:
    """Create the service's database if the server does not have it yet."""
    parts = urlsplit(dsn)
    name = parts.path.lstrip("/")
    admin = urlunsplit(parts._replace(path="/postgres"))
    conn = await asyncpg.connect(admin)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            with contextlib.suppress(asyncpg.DuplicateDatabaseError):
                await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


def _yoyo_url(dsn: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(scheme="postgresql+psycopg"))


def _migrate_sync(dsn: str, service_migrations: Path | None) -> int:
    backend = get_backend(_yoyo_url(dsn))
    sources = [KIT_MIGRATIONS] + ([service_migrations] if service_migrations else [])
    migrations = read_migrations(*map(str, sources))
    with backend.lock():
        pending = backend.to_apply(migrations)
        backend.apply_migrations(pending)
    return len(pending)


async def migrate(dsn: str, service_migrations: Path | None = None) -> int:
    """Apply the kit's and the service's forward-only SQL migrations; returns how many ran.

    Without `service_migrations` only the kit's tables are created (the kit's own tests)."""
    await ensure_database(dsn)
    return await asyncio.to_thread(_migrate_sync, dsn, service_migrations)


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    await conn.set_type_codec("json", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def create_pool(dsn: str, min_size: int = 2, max_size: int = 10) -> asyncpg.Pool:
    return await asyncpg.create_pool(
        dsn, min_size=min_size, max_size=max_size, init=_init_connection, command_timeout=30
    )


@contextlib.asynccontextmanager
async def transaction(pool: asyncpg.Pool):
    """One connection, one transaction: committed on success, rolled back on any error."""
    async with pool.acquire() as conn, conn.transaction():
        yield conn
