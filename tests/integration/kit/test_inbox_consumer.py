"""The inbox consumer on a real quorum queue: exactly-once effects, retries, the dead-letter queue."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from prometheus_client import REGISTRY

from services.kit import deadletters, events, inbox, publishers
from tests.support import bus, servers, tcp_proxy
from tests.support.waiting import wait_until

BROKER = servers.broker_settings()
GUEST = publishers.broker_user(servers.AMQP_URL)  # the user these tests publish as


class Harness:
    """One consumer on its own queue, bound to this run's commerce exchange by its own pattern."""

    def __init__(self, pool, amqp) -> None:
        self.pool = pool
        self.amqp = amqp
        tag = uuid.uuid4().hex[:8]
        self.name = f"{BROKER['queue_prefix']}kit.inbox.{tag}"
        self.prefix = f"commerce.kit{tag}"
        self.calls: list[str] = []
        self.consumer: inbox.Consumer | None = None

    def type_(self, what: str) -> str:
        return f"{self.prefix}.{what}.v1"

    async def start(
        self,
        handlers: dict,
        delivery_limit: int = 2,
        prefetch: int = 8,
        trusted: str = f"commerce={GUEST}",
    ):
        """A consumer of this test's types, trusting `trusted` (the tests publish as GUEST,
        which is also the consumer's own user)."""
        self.consumer = inbox.Consumer(
            name=self.name,
            pool=self.pool,
            connection=self.amqp,
            bindings=[inbox.Binding(BROKER["commerce_exchange"], f"{self.prefix}.#")],
            handlers=handlers,
            dead_letter_exchange=BROKER["dead_letter_exchange"],
            publishers=publishers.Publishers.parse(trusted),
            own_user=GUEST,
            prefetch=prefetch,
            delivery_limit=delivery_limit,
        )
        await self.consumer.start()
        return self

    def recording(self, fail_subjects=()):
        """A handler that records its effect, or fails for the given subjects."""

        async def handle(conn, envelope: events.Envelope) -> None:
            self.calls.append(envelope.id)
            if envelope.subject in fail_subjects:
                raise RuntimeError("the handler failed on purpose")
            await conn.execute(
                "INSERT INTO kit_test_effects (kind, key) VALUES ($1, $2)",
                envelope.type,
                envelope.id,
            )

        return handle

    async def publish(self, what: str, subject: str, event_id: str | None = None) -> str:
        return await self.publish_via(self.amqp, what, subject, event_id)

    async def publish_via(self, amqp, what: str, subject: str, event_id: str | None = None) -> str:
        return await bus.publish(
            amqp,
            BROKER["commerce_exchange"],
            self.type_(what),
            subject,
            {"orderId": subject},
            event_id=event_id,
        )

    async def effects(self, key: str | None = None) -> int:
        if key is None:
            return await self.pool.fetchval("SELECT count(*) FROM kit_test_effects")
        return await self.pool.fetchval("SELECT count(*) FROM kit_test_effects WHERE key = $1", key)

    async def dead_letters(self, expected: int, timeout: float = 15.0) -> list:
        """Take `expected` messages off `<name>.dlq`, waiting for the broker to move them."""
        channel = await self.amqp.channel()
        queue = await channel.declare_queue(f"{self.name}.dlq", passive=True)
        found = []

        async def drained():
            while (message := await queue.get(no_ack=True, fail=False)) is not None:
                found.append(message)
            return len(found) >= expected

        await wait_until(drained, timeout, f"{expected} message(s) in {self.name}.dlq")
        await asyncio.sleep(0.3)
        await drained()  # nothing more than expected arrives
        await channel.close()
        return found

    async def close(self) -> None:
        if self.consumer is not None:
            await self.consumer.stop()
        channel = await self.amqp.channel()
        for name in (self.name, f"{self.name}.dlq"):
            queue = await channel.declare_queue(name, passive=True)
            await queue.delete(if_unused=False, if_empty=False)
        await channel.close()


@pytest.fixture
async def harness(kit_db, amqp):
    made = Harness(kit_db, amqp)
    yield made
    await made.close()


async def test_same_event_three_times_applies_once(harness):
    await harness.start({harness.type_("order.paid"): harness.recording()})
    event_id = str(uuid.uuid4())
    for _ in range(3):
        await harness.publish("order.paid", "order-1", event_id=event_id)
    await wait_until(lambda: _effects_at_least(harness, 1), 10, "the effect")
    # Let every copy be handled: the inbox rejects the later ones.
    await wait_until(lambda: _queue_settled(harness), 10, "the queue to drain")
    assert await harness.effects(event_id) == 1
    rows = await harness.pool.fetch("SELECT * FROM inbox WHERE consumer = $1", harness.name)
    assert [(r["event_id"], r["event_type"]) for r in rows] == [
        (event_id, harness.type_("order.paid"))
    ]
    assert harness.calls == [event_id]


async def test_many_concurrent_copies_apply_once(harness):
    await harness.start({harness.type_("order.paid"): harness.recording()}, prefetch=32)
    ids = [str(uuid.uuid4()) for _ in range(20)]
    for _copy in range(3):
        await asyncio.gather(*(harness.publish("order.paid", "o", event_id=i) for i in ids))
    await wait_until(lambda: _effects_at_least(harness, 20), 15, "every effect")
    await wait_until(lambda: _queue_settled(harness), 10, "the queue to drain")
    assert await harness.effects() == 20
    assert (
        await harness.pool.fetchval("SELECT count(*) FROM inbox WHERE consumer = $1", harness.name)
        == 20
    )


async def test_failing_event_is_dead_lettered_and_does_not_block_the_queue(harness):
    limit = 2
    paid = harness.type_("order.paid")
    await harness.start({paid: harness.recording(fail_subjects={"bad"})}, delivery_limit=limit)
    bad = await harness.publish("order.paid", "bad")
    good = await harness.publish("order.paid", "good")
    await wait_until(lambda: _effects_at_least(harness, 1, good), 10, "the good event")

    (dead,) = await harness.dead_letters(1)
    assert dead.message_id == bad
    assert events.from_amqp(dead).id == bad
    assert await harness.effects(bad) == 0
    assert await harness.pool.fetchval("SELECT count(*) FROM inbox WHERE event_id = $1", bad) == 0
    # Tried once plus `limit` redeliveries, then moved; no more attempts after that.
    assert harness.calls.count(bad) == limit + 1
    assert harness.calls.count(good) == 1

    later = await harness.publish("order.paid", "later")
    await wait_until(lambda: _effects_at_least(harness, 1, later), 10, "an event after it")
    assert _metric("events_dead_lettered_total", harness.name) == 1
    assert _metric("events_failed_total", harness.name) == limit + 1


async def test_a_failing_event_does_not_hold_up_the_ones_behind_it(harness):
    paid = harness.type_("order.paid")
    await harness.start({paid: harness.recording(fail_subjects={"bad"})}, delivery_limit=3)
    bad = await harness.publish("order.paid", "bad")
    goods = [await harness.publish("order.paid", f"good-{n}") for n in range(20)]
    await wait_until(lambda: _effects_at_least(harness, 20), 10, "the events behind it")
    (dead,) = await harness.dead_letters(1)
    assert dead.message_id == bad
    assert sorted(set(harness.calls) - {bad}) == sorted(goods)


async def test_non_cloudevent_goes_straight_to_the_dead_letter_queue(harness):
    paid = harness.type_("order.paid")
    await harness.start({paid: harness.recording()}, delivery_limit=3)
    await bus.publish_raw(harness.amqp, BROKER["commerce_exchange"], paid, b"not an event")
    (dead,) = await harness.dead_letters(1)
    assert dead.body == b"not an event"
    assert harness.calls == []
    # No retries for a message that can never parse: x-death shows a single rejection.
    deaths = dead.headers.get("x-death") or []
    assert deaths and deaths[0]["reason"] == "rejected"
    assert _metric("events_dead_lettered_total", harness.name) == 1
    good = await harness.publish("order.paid", "fine")
    await wait_until(lambda: _effects_at_least(harness, 1, good), 10, "the next event")


async def test_event_without_handler_is_recorded_and_acked(harness):
    await harness.start({})
    event_id = await harness.publish("order.other", "x")
    await wait_until(lambda: _inbox_has(harness, event_id), 10, "the inbox row")
    await wait_until(lambda: _queue_settled(harness), 10, "the queue to drain")


async def test_apply_is_exactly_once_under_concurrency(harness):
    harness.consumer = None
    consumer = inbox.Consumer(
        name=harness.name,
        pool=harness.pool,
        connection=harness.amqp,
        bindings=[],
        handlers={},
        dead_letter_exchange=BROKER["dead_letter_exchange"],
        publishers=publishers.Publishers.parse(f"*={GUEST}"),
        own_user=GUEST,
    )
    slow_calls = []

    async def slow(conn, envelope):
        slow_calls.append(envelope.id)
        await asyncio.sleep(0.2)
        await conn.execute(
            "INSERT INTO kit_test_effects (kind, key) VALUES ('slow', $1)", envelope.id
        )

    envelope = events.Envelope(id="e-1", type="t", source="/s", subject=None, time=None, data={})
    results = await asyncio.gather(*(consumer.apply(envelope, slow) for _ in range(5)))
    assert sorted(results) == [False] * 4 + [True]
    assert await harness.effects("e-1") == 1

    async def failing(conn, envelope):
        raise RuntimeError("no")

    other = events.Envelope(id="e-2", type="t", source="/s", subject=None, time=None, data={})
    with pytest.raises(RuntimeError):
        await consumer.apply(other, failing)
    assert await consumer.apply(other, slow) is True  # the failure left no inbox row behind
    # The queues were never declared: declare them so the fixture can delete them.
    await consumer.start()
    await consumer.stop()


def _metric(name: str, consumer: str) -> float:
    return REGISTRY.get_sample_value(name, {"consumer": consumer}) or 0.0


async def _busy(harness: Harness, proxy) -> bool:
    return proxy.connections > 0 and len(harness.consumer._inflight) >= 4


async def _effects_at_least(harness: Harness, count: int, key: str | None = None) -> bool:
    return await harness.effects(key) >= count


async def _inbox_has(harness: Harness, event_id: str) -> bool:
    return bool(
        await harness.pool.fetchval(
            "SELECT count(*) FROM inbox WHERE consumer = $1 AND event_id = $2",
            harness.name,
            event_id,
        )
    )


async def _queue_settled(harness: Harness) -> bool:
    """Nothing ready or unacknowledged in the consumer's queue."""
    channel = await harness.amqp.channel()
    try:
        queue = await channel.declare_queue(harness.name, passive=True)
        result = queue.declaration_result
        ready = result.message_count
    finally:
        await channel.close()
    return ready == 0 and not harness.consumer._inflight


async def test_every_event_applied_once_through_dropped_connections(kit_db, amqp, connect):
    async with tcp_proxy.TcpProxy.to_broker() as proxy:
        connection = await connect(proxy.amqp_url(reconnect_interval=0.2))
        made = Harness(kit_db, connection)

        async def slow(conn, envelope):
            await asyncio.sleep(0.05)
            await made.recording()(conn, envelope)

        await made.start({made.type_("order.paid"): slow}, delivery_limit=3, prefetch=16)
        try:
            ids = []
            for batch in range(6):
                ids += await asyncio.gather(
                    *(made.publish_via(amqp, "order.paid", f"o{batch}") for _ in range(50))
                )
            cuts = 0
            for _ in range(3):  # cut while deliveries are in flight, once the consumer is back
                await wait_until(lambda: _busy(made, proxy), 10, "the consumer to resume")
                cuts += await proxy.cut(refuse_seconds=0.1) > 0
            assert cuts == 3
            await wait_until(lambda: _effects_at_least(made, len(ids)), 30, "every effect")
            await asyncio.sleep(0.5)
            assert await made.effects() == len(ids) == len(set(ids))
            assert set(made.calls) == set(ids)
            assert await made.dead_letters(0, timeout=0.5) == []
        finally:
            made.amqp = amqp
            await made.close()
            await connection.close()


async def test_event_without_an_id_is_dead_lettered_not_applied_per_delivery(harness):
    """Without ce-id the SDK would make up a new id per delivery, and the inbox could not tell
    a redelivery from a new event."""
    paid = harness.type_("order.paid")
    await harness.start({paid: harness.recording()})
    message = events.to_amqp(event_id="x", type_=paid, source="/s", subject="o", data={})
    del message.headers["ce-id"]
    channel = await harness.amqp.channel(publisher_confirms=True)
    (exchange,) = await events.declare_exchanges(channel, BROKER["commerce_exchange"])
    for _ in range(2):
        await exchange.publish(message, routing_key=paid)
    await channel.close()
    assert len(await harness.dead_letters(2)) == 2
    assert harness.calls == []


async def test_an_event_id_reused_with_other_content_is_dead_lettered(harness):
    await harness.start({harness.type_("order.paid"): harness.recording()}, delivery_limit=3)
    event_id = str(uuid.uuid4())
    await harness.publish("order.paid", "order-1", event_id=event_id)
    await wait_until(lambda: _effects_at_least(harness, 1, event_id), 10, "the first event")
    await harness.publish("order.paid", "order-1", event_id=event_id)  # a faithful redelivery
    await harness.publish("order.paid", "order-2", event_id=event_id)  # another event, same id
    (dead,) = await harness.dead_letters(1)
    assert events.from_amqp(dead).subject == "order-2"
    # Refused at once, not retried: x-death shows a single rejection.
    assert [d["reason"] for d in dead.headers.get("x-death") or []] == ["rejected"]
    assert await harness.effects(event_id) == 1
    assert harness.calls == [event_id]


async def test_dead_letters_are_listed_with_their_reason_replayed_and_dropped(harness, capsys):
    paid = harness.type_("order.paid")
    broken = {"bad"}
    handler = harness.recording(fail_subjects=broken)
    await harness.start({paid: handler}, delivery_limit=1)
    bad = await harness.publish("order.paid", "bad")
    await bus.publish_raw(harness.amqp, BROKER["commerce_exchange"], paid, b"not an event")
    await wait_until(lambda: _dead_letter_count(harness, 2), 15, "two dead letters")

    letters = {
        letter.message_id: letter for letter in await deadletters.find(harness.amqp, [harness.name])
    }
    assert letters[bad].reason == "delivery_limit" and letters[bad].type == paid
    (raw,) = [letter for i, letter in letters.items() if i != bad]
    assert raw.reason == "rejected" and raw.body == b"not an event"
    await deadletters.command(harness.amqp, [harness.name], "list")
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert sorted(item["reason"] for item in listed) == ["delivery_limit", "rejected"]

    broken.clear()  # the cause is fixed: the event applies when it comes back
    again = await deadletters.replay(
        harness.amqp, [harness.name], lambda d: d.message_id == bad, user_id=GUEST
    )
    assert again == 1
    await wait_until(lambda: _effects_at_least(harness, 1, bad), 10, "the replayed event")
    assert await deadletters.drop(harness.amqp, [harness.name], lambda d: True) == 1
    assert await deadletters.find(harness.amqp, [harness.name]) == []
    assert await harness.effects(bad) == 1


async def _dead_letter_count(harness: Harness, count: int) -> bool:
    channel = await harness.amqp.channel()
    queue = await channel.declare_queue(f"{harness.name}.dlq", passive=True)
    found = queue.declaration_result.message_count
    await channel.close()
    return found >= count


async def test_a_body_over_the_limit_is_dead_lettered_unread(harness):
    """A well-formed event, but too big: the handler never sees it."""
    paid = harness.type_("order.paid")
    await harness.start({paid: harness.recording()}, delivery_limit=3)
    huge = await bus.publish(
        harness.amqp, BROKER["commerce_exchange"], paid, "order-1", {"note": "x" * 300_000}
    )
    small = await harness.publish("order.paid", "order-2")
    (dead,) = await harness.dead_letters(1)
    assert dead.message_id == huge and len(dead.body) > 300_000
    assert [d["reason"] for d in dead.headers.get("x-death") or []] == ["rejected"]
    await wait_until(lambda: _effects_at_least(harness, 1, small), 10, "the small event")
    assert harness.calls == [small]


async def test_an_event_from_a_user_not_allowed_to_publish_it_is_dead_lettered(harness):
    """Trust is by broker user: the tests publish as GUEST, whom this consumer does not trust
    with commerce events. The service itself may put a dead letter back (`dead-letters
    replay`, as its own user, through the default exchange); nobody else may."""
    paid = harness.type_("order.paid")
    await harness.start({paid: harness.recording()}, trusted="commerce=some-storefront")
    forged = await harness.publish("order.paid", "order-1")
    await wait_until(lambda: _dead_letter_count(harness, 1), 15, "the forged event's dead letter")
    (letter,) = await deadletters.find(harness.amqp, [harness.name])
    assert letter.message_id == forged and letter.reason == "rejected"
    assert harness.calls == []

    # Put back without a user: still nobody the consumer trusts.
    assert await deadletters.replay(harness.amqp, [harness.name], lambda d: True) == 1
    await wait_until(lambda: _dead_letter_count(harness, 1), 15, "the dead letter again")
    assert harness.calls == []
    # Put back by the consumer's own user (the broker checks user_id against the connection's).
    assert await deadletters.replay(harness.amqp, [harness.name], lambda d: True, GUEST) == 1
    await wait_until(lambda: _effects_at_least(harness, 1, forged), 10, "the replayed event")
    assert harness.calls == [forged]
