"""The event trust boundary (kit.publishers) on the real broker: each publisher is a broker user
of its own, the broker keeps it to its own events and its own name, and points applies an event
only from the user allowed to publish its type."""

from __future__ import annotations

import aio_pika
import aiormq
import grpc
import pytest

from loyalty.identity.v1 import events_pb2 as identity
from services.kit import events, publishers
from tests.support import bus, servers
from tests.support.grpc_errors import fails
from tests.support.points import dead_lettered, paid, redeem_request, rejected_at_once
from tests.support.waiting import wait_until

pytestmark = pytest.mark.skipif(
    not servers.broker_users_managed(),
    reason="the broker cannot be administered here (no LOYALTY_RABBITMQCTL): every publisher "
    "is one user, so there is no other user to refuse",
)

NAMES = servers.broker_settings()
FROZEN = "loyalty.identity.member.frozen.v1"
UNFROZEN = "loyalty.identity.member.unfrozen.v1"
PAID = "commerce.order.paid.v1"


def user_of(source: str) -> str:
    return publishers.broker_user(servers.publisher_urls()[source])


async def test_an_unfreeze_forged_by_another_broker_user_is_dead_lettered(
    points, points_app, amqp, operator, new_member, fund, publish, consumed
):
    """The run's administrator may publish anything anywhere, but is not identity: its
    member.unfrozen is refused at once and the member stays frozen."""
    member = await new_member()
    await fund(member, 100)
    await publish(FROZEN, member, identity.MemberFrozen(member_id=member, reason="risk"))
    await consumed(FROZEN)
    forged = await bus.publish(
        amqp, NAMES["events_exchange"], UNFROZEN, member, identity.MemberUnfrozen(member_id=member)
    )
    (message,) = await dead_lettered(amqp, points_app, "points.identity", member)
    assert message.message_id == forged and rejected_at_once(message)
    assert message.user_id == publishers.broker_user(servers.AMQP_URL)
    await fails(
        points.Redeem(redeem_request(member, 10), metadata=operator),
        grpc.StatusCode.FAILED_PRECONDITION,
        "MEMBER_FROZEN",
    )


async def _publish_raw(connection, exchange: str, routing_key: str, **properties) -> None:
    """Publish on an exchange the connection's user may not declare (so: without declaring)."""
    channel = await connection.channel(publisher_confirms=True)
    try:
        target = await channel.get_exchange(exchange, ensure=False)
        message = events.to_amqp(
            event_id="e-1", type_=routing_key, source="/s", subject="x", data={}, **properties
        )
        await target.publish(message, routing_key=routing_key, timeout=10)
    finally:
        if not channel.is_closed:
            await channel.close()


async def test_a_storefront_may_publish_commerce_events_only_and_only_as_itself(producers):
    storefront = await producers("commerce")
    me = user_of("commerce")
    # Its own events, under its own name: accepted.
    await _publish_raw(storefront, NAMES["commerce_exchange"], PAID, user_id=me)
    # The suite's exchange: not its to write to.
    with pytest.raises(aiormq.exceptions.ChannelAccessRefused):
        await _publish_raw(storefront, NAMES["events_exchange"], UNFROZEN, user_id=me)
    # A suite type on its own exchange: the topic permission refuses the routing key.
    with pytest.raises(aiormq.exceptions.ChannelAccessRefused):
        await _publish_raw(storefront, NAMES["commerce_exchange"], UNFROZEN, user_id=me)
    # Claiming to be identity: the broker checks user_id against the connection's user.
    with pytest.raises(aiormq.exceptions.ChannelPreconditionFailed):
        await _publish_raw(
            storefront, NAMES["commerce_exchange"], PAID, user_id=user_of("identity")
        )


async def test_a_service_may_publish_only_its_own_types(producers):
    points_user = await producers("points")
    with pytest.raises(aiormq.exceptions.ChannelAccessRefused):
        await _publish_raw(
            points_user, NAMES["events_exchange"], UNFROZEN, user_id=user_of("points")
        )


async def test_events_carry_their_publishers_user(
    points, points_app, tap, new_member, publish, consumed
):
    """What points publishes is marked by the broker as points' (consumers elsewhere rely on
    it); what a storefront publishes is applied because it is the storefront's."""
    member = await new_member()
    await publish(PAID, "o-pub-1", paid("o-pub-1", member, 10_000))
    await consumed(PAID)

    def rebate_events() -> list[aio_pika.abc.AbstractIncomingMessage]:
        return [
            m
            for m in tap.raw("loyalty.points.points.credited.v1")
            if events.from_amqp(m).subject == member
        ]

    await wait_until(lambda: _some(rebate_events), 10, "points' event about the order")
    assert {m.user_id for m in rebate_events()} == {user_of("points")}
    assert user_of("points") != publishers.broker_user(servers.AMQP_URL)


async def _some(find) -> bool:
    return bool(find())


def test_the_run_trusts_each_source_to_its_own_user():
    spec = publishers.Publishers.parse(servers.publisher_settings("points")["event_publishers"])
    assert spec.user_for(UNFROZEN) == user_of("identity")
    assert spec.user_for(PAID) == user_of("commerce")
    assert len({user_of(source) for source in publishers.SOURCES}) == len(publishers.SOURCES)


async def test_an_outside_system_publishes_its_own_types_and_nothing_else(producers):
    """A credit bureau (an outside system) writes its `loyalty.credit.*` events on the events
    exchange; not another source's types, not the commerce exchange, and it reads no queue."""
    bureau = await producers("credit")
    me = user_of("credit")
    await _publish_raw(
        bureau, NAMES["events_exchange"], "loyalty.credit.score.reported.v1", user_id=me
    )
    with pytest.raises(aiormq.exceptions.ChannelAccessRefused):
        await _publish_raw(bureau, NAMES["events_exchange"], UNFROZEN, user_id=me)
    with pytest.raises(aiormq.exceptions.ChannelAccessRefused):
        await _publish_raw(bureau, NAMES["commerce_exchange"], PAID, user_id=me)
    channel = await bureau.channel()
    with pytest.raises(aiormq.exceptions.ChannelAccessRefused):
        await channel.declare_queue("", exclusive=True)
