"""The outbox relay on real PostgreSQL and RabbitMQ: at least once through dropped connections,
many replicas on one table, and an unroutable event treated as an error."""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest
from prometheus_client import REGISTRY

from services.kit import db, events, outbox
from tests.support import tcp_proxy
from tests.support.kit_events import ThingHappened, ThingNowhere, ThingRoutable
from tests.support.waiting import wait_until

OUTBOX = outbox.Outbox("kit")


async def _add(pool, count: int, per_tx: int, kind=ThingHappened, pause=0.0) -> list[str]:
    """`count` outbox rows written through Outbox.add, `per_tx` per transaction."""
    added: list[str] = []
    while len(added) < count:
        async with pool.acquire() as conn, conn.transaction():
            for _ in range(min(per_tx, count - len(added))):
                added.append(await OUTBOX.add(conn, f"subject-{len(added)}", kind(n=1)))
        if pause:
            await asyncio.sleep(pause)
    return added


async def _unpublished(pool) -> int:
    return await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")


class Collector:
    """Message ids that arrive on an exchange (every routing key), counted with duplicates."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.queue = None

    async def start(self, connection, exchange_name: str) -> Collector:
        channel = await connection.channel()
        (exchange,) = await events.declare_exchanges(channel, exchange_name)
        self.queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        await self.queue.bind(exchange, routing_key="#")
        await self.queue.consume(self._on_message, no_ack=True)
        return self

    async def _on_message(self, message) -> None:
        self.ids.append(message.message_id)


@pytest.fixture
async def proxy():
    async with tcp_proxy.TcpProxy.to_broker() as running:
        yield running


async def test_relay_publishes_every_row_through_dropped_connections(
    kit_db, amqp, proxy, unique, connect, make_relay
):
    exchange = unique("events")
    seen = await Collector().start(amqp, exchange)
    connection = await connect(proxy.amqp_url(reconnect_interval=0.3))
    relay = make_relay(kit_db, connection, exchange, batch=100, poll_seconds=0.2)
    await relay.start()
    try:
        writer = asyncio.create_task(_add(kit_db, 2000, per_tx=50, pause=0.05))
        cuts = 0
        for _ in range(3):
            # Cut only a live connection that is busy relaying: wait for the reconnect and for
            # more rows to go out since the last cut.
            before = len(seen.ids)
            await wait_until(
                lambda before=before: _relaying(proxy, seen, before), 15, "the relay to resume"
            )
            cuts += await proxy.cut(refuse_seconds=0.2) > 0
        assert not writer.done(), "the rows were all written before the last cut"
        added = await writer
        assert cuts == 3
        await wait_until(
            lambda: _unpublished_is_zero(kit_db), timeout=60, what="every row published"
        )
        missing = set(added) - set(seen.ids)
        await wait_until(
            lambda: _all_arrived(seen, added), timeout=20, what=f"{len(missing)} events on the tap"
        )
        assert relay._task is not None and not relay._task.done(), "the relay died"
    finally:
        await relay.stop()
        await connection.close()
    assert await _unpublished(kit_db) == 0
    assert set(added) <= set(seen.ids)  # duplicates are allowed: delivery is at least once
    assert await kit_db.fetchval("SELECT count(*) FROM outbox") == 2000


async def _relaying(proxy, seen: Collector, before: int) -> bool:
    return proxy.connections > 0 and len(seen.ids) > before + 50


async def _unpublished_is_zero(pool) -> bool:
    return await _unpublished(pool) == 0


async def _all_arrived(seen: Collector, added: list[str]) -> bool:
    return set(added) <= set(seen.ids)


async def test_two_relays_on_one_table_publish_every_row(kit_db, amqp, unique, connect, make_relay):
    exchange = unique("events")
    seen = await Collector().start(amqp, exchange)
    connections = [await connect() for _ in range(2)]
    relays = [make_relay(kit_db, c, exchange, batch=20, poll_seconds=0.1) for c in connections]
    for relay in relays:
        await relay.start()
    try:
        added = await _add(kit_db, 600, per_tx=30)
        await wait_until(lambda: _unpublished_is_zero(kit_db), 30, "every row published")
        await wait_until(lambda: _all_arrived(seen, added), 10, "every event on the tap")
    finally:
        for relay in relays:
            await relay.stop()
        for connection in connections:
            await connection.close()
    assert set(added) <= set(seen.ids)
    # SKIP LOCKED: the replicas never publish a row twice when nothing fails.
    assert len(seen.ids) == len(added)


async def test_two_relays_publish_batches_concurrently_without_overlap(
    kit_db, amqp, unique, connect, make_relay
):
    exchange = unique("events")
    seen = await Collector().start(amqp, exchange)
    connections = [await connect() for _ in range(2)]
    relays = [make_relay(kit_db, c, exchange, batch=50) for c in connections]
    for relay in relays:
        await relay._connect()
    added = await _add(kit_db, 400, per_tx=400)
    counts = []
    while True:
        round_ = await asyncio.gather(*(relay.publish_batch() for relay in relays))
        counts.append(round_)
        if not any(round_):
            break
    for connection in connections:
        await connection.close()
    assert sum(map(sum, counts)) == 400
    assert all(both > 0 for both in counts[0]), "the second replica waited instead of skipping"
    await wait_until(lambda: _all_arrived(seen, added), 10, "every event on the tap")
    assert len(seen.ids) == 400


async def test_unroutable_event_is_an_error_until_a_queue_is_bound(
    kit_db, amqp, unique, connect, make_relay
):
    exchange = unique("events")  # no queue is bound to it yet
    connection = await connect()
    relay = make_relay(kit_db, connection, exchange, batch=10)
    await relay._connect()
    (event_id,) = await _add(kit_db, 1, per_tx=1)

    assert await relay.publish_batch() == 0
    row = await kit_db.fetchrow("SELECT * FROM outbox WHERE id = $1::uuid", event_id)
    assert row["published_at"] is None
    assert row["attempts"] == 1
    assert row["last_error"]
    assert await kit_db.fetchval("SELECT $1::timestamptz > now()", row["next_attempt_at"])
    assert await relay.publish_batch() == 0, "a failed row is retried before its back-off"

    seen = await Collector().start(amqp, exchange)
    await kit_db.execute("UPDATE outbox SET next_attempt_at = now()")
    assert await relay.publish_batch() == 1
    row = await kit_db.fetchrow("SELECT * FROM outbox WHERE id = $1::uuid", event_id)
    assert row["published_at"] is not None
    await wait_until(lambda: _all_arrived(seen, [event_id]), 10, "the event on the tap")
    await connection.close()


async def test_unroutable_event_does_not_hold_back_routable_ones(
    kit_db, amqp, unique, connect, make_relay
):
    exchange = unique("events")
    seen = Collector()
    await seen.start(amqp, exchange)
    # Bound to one type only: the other type has nowhere to go.
    await seen.queue.unbind(exchange, routing_key="#")
    await seen.queue.bind(exchange, routing_key=events.type_of(ThingRoutable))
    connection = await connect()
    relay = make_relay(kit_db, connection, exchange, batch=50)
    await relay._connect()
    lost = await _add(kit_db, 3, per_tx=3, kind=ThingNowhere)
    routable = await _add(kit_db, 5, per_tx=5, kind=ThingRoutable)
    assert await relay.publish_batch() == 5
    rows = await kit_db.fetch("SELECT id::text, published_at, last_error FROM outbox")
    by_id = {r["id"]: r for r in rows}
    assert all(by_id[i]["published_at"] is None and by_id[i]["last_error"] for i in lost)
    assert all(by_id[i]["published_at"] is not None for i in routable)
    await wait_until(lambda: _all_arrived(seen, routable), 10, "the routable events")
    await connection.close()


async def test_relay_survives_its_listening_connection_being_killed(
    kit_dsn, kit_db, amqp, unique, connect, make_relay
):
    """A dead LISTEN connection is given back to the pool, not leaked: a small pool would
    otherwise run dry after a few database restarts and the relay would stop for good."""
    exchange = unique("events")
    seen = await Collector().start(amqp, exchange)
    pool = await db.create_pool(kit_dsn, min_size=1, max_size=3)
    connection = await connect()
    relay = make_relay(pool, connection, exchange, batch=50, poll_seconds=0.1)
    await relay.start()
    added = []
    try:
        for _ in range(5):
            added += await _add(kit_db, 10, per_tx=10)
            await wait_until(lambda a=added: _all_arrived(seen, a), 10, "the events")
            pid = await wait_until(lambda: _listener_pid(kit_db), 10, "the LISTEN connection")
            assert await kit_db.fetchval("SELECT pg_terminate_backend($1)", pid)
            await asyncio.sleep(0.3)
        added += await _add(kit_db, 10, per_tx=10)
        await wait_until(lambda: _all_arrived(seen, added), 10, "the events after the kills")
    finally:
        await asyncio.wait_for(relay.stop(), 10)
        await connection.close()
        await asyncio.wait_for(pool.close(), 10)


async def _listener_pid(pool) -> int | None:
    return await pool.fetchval(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
        " AND query ILIKE 'LISTEN%' LIMIT 1"
    )


async def test_unroutable_is_still_an_error_after_a_reconnect(
    kit_db, proxy, unique, connect, make_relay
):
    exchange = unique("events")  # nothing bound
    connection = await connect(proxy.amqp_url(reconnect_interval=0.2))
    relay = make_relay(kit_db, connection, exchange, batch=10, poll_seconds=0.1)
    await relay._connect()
    await proxy.cut()
    await wait_until(lambda: _reconnected(proxy, connection), 10, "the reconnect")
    await _add(kit_db, 2, per_tx=2)
    published = None
    for _ in range(50):  # the channel may still be recovering right after the reconnect
        try:
            published = await relay.publish_batch()
            break
        except Exception:
            await asyncio.sleep(0.1)
    assert published == 0
    rows = await kit_db.fetch("SELECT published_at, last_error FROM outbox")
    assert all(r["published_at"] is None and r["last_error"] for r in rows)
    await connection.close()


async def _reconnected(proxy, connection) -> bool:
    return proxy.connections > 0 and connection.connected.is_set()


async def test_relay_started_and_stopped_during_a_broker_outage(
    kit_db, amqp, proxy, unique, connect, make_relay
):
    exchange = unique("events")
    seen = await Collector().start(amqp, exchange)
    connection = await connect(proxy.amqp_url(reconnect_interval=0.2))
    await proxy.cut(refuse_seconds=1.5)
    relay = make_relay(kit_db, connection, exchange, batch=50, poll_seconds=0.1)
    await relay.start()
    added = await _add(kit_db, 20, per_tx=10)
    await wait_until(lambda: _all_arrived(seen, added), 15, "the events after the outage")
    await wait_until(lambda: _unpublished_is_zero(kit_db), 5, "the rows marked")

    await proxy.cut(refuse_seconds=30)  # the broker stays away: stop must not wait for it
    more = await _add(kit_db, 5, per_tx=5)
    started = time.monotonic()
    await asyncio.wait_for(relay.stop(), 15)
    assert time.monotonic() - started < 12
    assert await _unpublished(kit_db) == len(more)
    await connection.close()


async def test_a_batch_cut_mid_way_marks_only_what_the_broker_confirmed(
    kit_db, amqp, proxy, unique, connect, make_relay
):
    exchange = unique("events")
    seen = await Collector().start(amqp, exchange)
    connection = await connect(proxy.amqp_url(reconnect_interval=0.2))
    relay = make_relay(kit_db, connection, exchange, batch=1500)
    await relay._connect()
    added = await _add(kit_db, 1500, per_tx=1500)
    batch = asyncio.create_task(relay.publish_batch())
    await wait_until(lambda: _seen_at_least(seen, 200), 10, "the batch to be under way")
    await proxy.cut()
    with pytest.raises(ConnectionError):  # aiormq's connection errors are ConnectionErrors
        await batch
    published = {
        str(r["id"])
        for r in await kit_db.fetch("SELECT id FROM outbox WHERE published_at IS NOT NULL")
    }
    assert 0 < len(published) < 1500, "confirmed rows are kept, unconfirmed ones left to retry"
    await asyncio.sleep(0.5)
    assert published <= set(seen.ids), "a row was marked published without reaching a queue"

    await wait_until(lambda: _reconnected(proxy, connection), 10, "the reconnect")
    for _ in range(50):
        with contextlib.suppress(Exception):
            if await relay.publish_batch() == 0 and not await _unpublished(kit_db):
                break
        await asyncio.sleep(0.1)
    await wait_until(lambda: _all_arrived(seen, added), 10, "every event")
    await connection.close()


async def test_relay_outlives_its_connection_being_closed_mid_batch(
    kit_db, unique, connect, make_relay
):
    """Closing the connection fails the pending confirms (aiormq may use a bare Exception or
    CancelledError); a batch must fail with an Exception, never a CancelledError, which would
    end the relay loop as if the relay itself had been cancelled."""
    connection = await connect()
    relay = make_relay(kit_db, connection, unique("events"), batch=1000, poll_seconds=0.1)
    await relay._connect()
    await _add(kit_db, 1000, per_tx=1000)
    batch = asyncio.create_task(relay.publish_batch())
    await asyncio.sleep(0.05)
    await connection.close()
    with pytest.raises(Exception):  # noqa: B017 - any Exception; CancelledError is not one
        await batch

    connection = await connect()
    relay = make_relay(kit_db, connection, unique("events"), batch=1000, poll_seconds=0.1)
    await relay.start()
    await asyncio.sleep(0.05)
    await connection.close()
    await asyncio.sleep(0.5)
    assert not relay._task.done(), "the relay loop ended"
    await asyncio.wait_for(relay.stop(), 10)


async def _seen_at_least(seen: Collector, count: int) -> bool:
    return len(seen.ids) >= count


async def test_with_an_alternate_exchange_an_unbound_event_is_kept_not_an_error(
    kit_db, amqp, unique, connect, make_relay
):
    """An event nobody has bound a queue to yet is normal: the alternate exchange keeps it in
    the unrouted queue (counted in a metric) and the row is published, not retried."""
    exchange, unrouted = unique("events"), unique("unrouted")
    connection = await connect()
    relay = make_relay(kit_db, connection, exchange, batch=50, unrouted=unrouted)
    await relay._connect()
    kept = await _add(kit_db, 3, per_tx=3, kind=ThingNowhere)
    try:
        assert await relay.publish_batch() == 3
        rows = await kit_db.fetch("SELECT published_at, last_error FROM outbox")
        assert all(r["published_at"] is not None and r["last_error"] is None for r in rows)
        channel = await amqp.channel()
        queue = await channel.declare_queue(unrouted, passive=True)

        async def all_kept() -> bool:
            found = await channel.declare_queue(unrouted, passive=True)
            return found.declaration_result.message_count == len(kept)

        await wait_until(all_kept, 10, "the events in the unrouted queue")
        await relay._count_unrouted()
        assert REGISTRY.get_sample_value("events_unrouted") == len(kept)
        await queue.delete(if_unused=False, if_empty=False)
        await channel.close()
    finally:
        await connection.close()


async def test_an_events_exchange_of_an_older_version_is_named_with_its_fix(amqp, unique):
    exchange, unrouted = unique("events"), unique("unrouted")
    channel = await amqp.channel()
    await events.declare_exchanges(channel, exchange)  # as before the alternate exchange
    await channel.close()
    channel = await amqp.channel()
    with pytest.raises(events.TopologyMismatch, match=f"rabbitmqctl delete_exchange {exchange}"):
        await events.declare_exchanges(channel, exchange, unrouted=unrouted)
    channel = await amqp.channel()
    await channel.queue_delete(unrouted, if_unused=False, if_empty=False)
    await channel.close()
