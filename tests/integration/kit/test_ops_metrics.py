"""The metrics the alerts read that the kit measures itself: each consumer's dead-letter queue
depth (a passive declaration answered by the real broker) and the refusals of the rate limiter
(on the real database)."""

from __future__ import annotations

import contextlib
import datetime as dt
import uuid

import pytest
from prometheus_client import REGISTRY

from services.kit import errors, inbox, publishers
from services.kit.clock import Clock
from services.kit.ratelimit import Limit, RateLimiter
from tests.support import bus, servers
from tests.support.waiting import wait_until

BROKER = servers.broker_settings()
GUEST = publishers.broker_user(servers.AMQP_URL)


def _sample(name: str, labels: dict[str, str]) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture
async def consumer(kit_db, amqp):
    """A consumer of this test's own types on its own queue, removed with its `.dlq` after."""
    tag = uuid.uuid4().hex[:8]
    made = inbox.Consumer(
        name=f"{BROKER['queue_prefix']}kit.metrics.{tag}",
        pool=kit_db,
        connection=amqp,
        bindings=[inbox.Binding(BROKER["commerce_exchange"], f"commerce.kit{tag}.#")],
        handlers={},
        dead_letter_exchange=BROKER["dead_letter_exchange"],
        publishers=publishers.Publishers.parse(f"commerce={GUEST}"),
        own_user=GUEST,
    )
    made.DEAD_LETTER_CHECK_SECONDS = 0.2  # the measuring loop, not only a direct call
    await made.start()
    yield made, f"commerce.kit{tag}"
    await made.stop()
    channel = await amqp.channel()
    for name in (made.name, f"{made.name}.dlq"):
        with contextlib.suppress(Exception):
            queue = await channel.declare_queue(name, passive=True)
            await queue.delete(if_unused=False, if_empty=False)
    with contextlib.suppress(Exception):
        await channel.close()


async def test_the_dead_letter_gauge_follows_the_depth_of_the_consumers_dlq(consumer, amqp):
    made, prefix = consumer
    assert await made.count_dead_letters() == 0
    for _ in range(2):  # no CloudEvent at all: dead-lettered at once
        await bus.publish_raw(amqp, BROKER["commerce_exchange"], f"{prefix}.x.v1", b"not an event")

    async def measured_two() -> bool:
        return _sample("dead_letter_messages", {"consumer": made.name}) == 2

    await wait_until(measured_two, 10, "the gauge to read 2 dead letters")

    channel = await amqp.channel()
    dlq = await channel.declare_queue(f"{made.name}.dlq", passive=True)
    await dlq.purge()  # an operator dropped them
    await channel.close()
    assert await made.count_dead_letters() == 0
    assert _sample("dead_letter_messages", {"consumer": made.name}) == 0


async def test_each_refusal_is_counted_by_the_limit_that_refused(kit_db):
    clock = Clock()
    clock.set(dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC))
    limiter = RateLimiter(kit_db, clock)
    one = Limit(f"test.metrics.one.{uuid.uuid4().hex[:8]}", 1, 60)
    roomy = Limit(f"test.metrics.roomy.{uuid.uuid4().hex[:8]}", 100, 60)

    await limiter.take((one, "alice"), (roomy, "alice"))
    for _ in range(2):
        with pytest.raises(errors.AppError):
            await limiter.take((one, "alice"), (roomy, "alice"))
    with pytest.raises(errors.AppError):
        await limiter.check(one, "alice")
    await limiter.take((one, "bob"))  # allowed: not counted

    assert _sample("rate_limit_refusals_total", {"limit": one.name}) == 3
    assert _sample("rate_limit_refusals_total", {"limit": roomy.name}) == 0
