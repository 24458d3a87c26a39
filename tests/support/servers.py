"""Where the real PostgreSQL and RabbitMQ are (exported by deploy/local/infra.sh), per test run."""

from __future__ import annotations

import os
import secrets

import asyncpg

from services.kit import db, events

PG_URL = os.environ.get("LOYALTY_PG_URL", "postgresql://postgres@127.0.0.1:5432/")
AMQP_URL = os.environ.get("LOYALTY_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
RUN = secrets.token_hex(3)  # one test run's databases, exchanges and queues meet no other's


def database_url(service: str) -> str:
    base = PG_URL.rstrip("/")
    if base.count("/") > 2:
        base = base.rsplit("/", 1)[0]
    return f"{base}/loyalty_test_{service}_{RUN}"


def broker_settings() -> dict:
    """Settings overrides that put a service on this run's own exchanges and queues."""
    return {
        "amqp_url": AMQP_URL,
        "events_exchange": f"test.{RUN}.loyalty.events",
        "commerce_exchange": f"test.{RUN}.commerce.events",
        "dead_letter_exchange": f"test.{RUN}.loyalty.dlx",
        "unrouted_exchange": f"test.{RUN}.loyalty.unrouted",
        "queue_prefix": f"test.{RUN}.",
    }


async def fresh_database(dsn: str) -> None:
    """Drop and recreate a test database: every run starts from the migrations."""
    await drop_database(dsn)
    await db.ensure_database(dsn)


async def drop_database(dsn: str) -> None:
    name = dsn.rsplit("/", 1)[1]
    conn = await asyncpg.connect(dsn.rsplit("/", 1)[0] + "/postgres")
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def truncate_all(pool: asyncpg.Pool, keep: tuple[str, ...] = ()) -> None:
    """Empty every table of the service (not the migration bookkeeping) in one statement."""
    tables = await pool.fetch(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        " AND tablename NOT LIKE '\\_yoyo%' AND tablename NOT LIKE 'yoyo%'"
    )
    names = [f'"{t["tablename"]}"' for t in tables if t["tablename"] not in keep]
    if names:
        await pool.execute(f"TRUNCATE {', '.join(names)} RESTART IDENTITY CASCADE")


async def delete_queues(connection, app) -> None:
    """Delete a service's consumer queues and their dead-letter queues (a test run's own)."""
    channel = await connection.channel()
    try:
        for subscription in app.subscriptions():
            name = app.settings.queue_prefix + subscription.queue
            for queue in (name, f"{name}.dlq"):
                # Quorum queues refuse if_unused/if_empty deletes.
                await channel.queue_delete(queue, if_unused=False, if_empty=False)
    finally:
        await channel.close()


async def delete_exchanges(connection) -> None:
    """Delete this run's exchanges (durable: they would stay on the broker for ever)."""
    names = broker_settings()
    channel = await connection.channel()
    try:
        for key in (
            "events_exchange",
            "commerce_exchange",
            "dead_letter_exchange",
            "unrouted_exchange",
        ):
            await channel.exchange_delete(names[key])
        await channel.queue_delete(names["unrouted_exchange"], if_unused=False, if_empty=False)
    finally:
        await channel.close()


async def declare_exchange(channel, name: str):
    """Declare one of the run's exchanges as the services do: the events exchange with its
    alternate exchange (the broker refuses a declaration with other arguments)."""
    names = broker_settings()
    unrouted = names["unrouted_exchange"] if name == names["events_exchange"] else None
    return await events.declare_exchanges(channel, name, unrouted=unrouted)
