"""Where the real PostgreSQL and RabbitMQ are (exported by deploy/local/infra.sh), per test run."""

from __future__ import annotations

import atexit
import functools
import os
import secrets

import asyncpg

from services.kit import db, events, publishers
from tools import broker_users

PG_URL = os.environ.get("LOYALTY_PG_URL", "postgresql://postgres@127.0.0.1:5432/")
AMQP_URL = os.environ.get("LOYALTY_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
RUN = secrets.token_hex(3)  # one test run's databases, exchanges and queues meet no other's
# A command administering the broker (deploy/local/infra.sh finds one when it can).
RABBITMQCTL = os.environ.get("LOYALTY_RABBITMQCTL", "")


def database_url(service: str) -> str:
    base = PG_URL.rstrip("/")
    if base.count("/") > 2:
        base = base.rsplit("/", 1)[0]
    return f"{base}/loyalty_test_{service}_{RUN}"


def broker_settings() -> dict:
    """Settings overrides that put a service on this run's own exchanges and queues."""
    return {
        "events_exchange": f"test.{RUN}.loyalty.events",
        "commerce_exchange": f"test.{RUN}.commerce.events",
        "dead_letter_exchange": f"test.{RUN}.loyalty.dlx",
        "unrouted_exchange": f"test.{RUN}.loyalty.unrouted",
        "queue_prefix": f"test.{RUN}.",
    }


@functools.cache
def publisher_urls() -> dict[str, str]:
    """The broker URL of each event source's publisher in this run: a user of its own per
    source (`test-<run>-<user>`, permitted as kit.publishers says on this run's exchanges and
    queues, deleted when the run ends) where the broker can be administered; else every source
    is the AMQP_URL's user."""
    if not RABBITMQCTL:
        return {source: AMQP_URL for source in publishers.SOURCES}
    passwords = {source: secrets.token_urlsafe(16) for source in publishers.SOURCES}
    users = broker_users.users_of(passwords, prefix=f"test-{RUN}-")
    names = broker_settings()
    run_names = publishers.Names(
        events=names["events_exchange"],
        commerce=names["commerce_exchange"],
        dead_letters=names["dead_letter_exchange"],
        unrouted=names["unrouted_exchange"],
        queue_prefix=names["queue_prefix"],
    )
    broker_users.import_definitions(RABBITMQCTL, publishers.definitions(users, run_names))
    atexit.register(broker_users.delete_users, RABBITMQCTL, [u for u, _ in users.values()])
    return {
        source: broker_users.url_for(AMQP_URL, user, password)
        for source, (user, password) in users.items()
    }


def broker_users_managed() -> bool:
    """Whether this run's publishers are broker users of their own (see publisher_urls)."""
    return bool(RABBITMQCTL)


def publisher_settings(service: str) -> dict:
    """Settings overrides that connect a service as its run's broker user, trusting the run's."""
    urls = publisher_urls()
    spec = ",".join(f"{source}={publishers.broker_user(url)}" for source, url in urls.items())
    return {"amqp_url": urls[service], "event_publishers": spec}


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
