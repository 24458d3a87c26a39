"""The storefront client (clients/storefront) on the real broker: what it publishes is what the
services' consumers take (the kit's own parsing and publisher check read it back), as the
storefront's broker user; suite events come out as proto messages, acknowledged once the loop
moves on; what is no event is dropped. The e2e test (tests/e2e) has the services apply them."""

from __future__ import annotations

import asyncio
import json

import aio_pika
import pytest

from loyalty.commerce.v1 import events_pb2 as commerce
from loyalty.growth.v1 import events_pb2 as growth
from loyalty.growth.v1 import resources_pb2 as gres
from loyalty.identity.v1 import events_pb2 as identity
from loyalty.type.v1 import money_pb2
from loyalty_storefront import NotRouted, Storefront, subject_of, type_of
from services.kit import events, publishers
from tests.support import bus, servers
from tests.support.ids import uid

NAMES = servers.broker_settings()


@pytest.fixture(scope="session")
async def commerce_tap(amqp):
    """Every message on the run's commerce exchange."""
    capture = bus.Tap()
    await capture.start(amqp, NAMES["commerce_exchange"])
    return capture


@pytest.fixture(scope="session")
async def events_exchange(amqp):
    """The run's events exchange, declared as the services declare it (a storefront may only
    read from it, not declare it)."""
    channel = await amqp.channel()
    await servers.declare_exchange(channel, NAMES["events_exchange"])
    await channel.close()


async def next_event(subscription, timeout: float = 10.0):
    return await asyncio.wait_for(anext(subscription), timeout)


async def test_a_commerce_event_leaves_in_the_suite_envelope_as_the_storefront_user(
    storefront, commerce_tap
):
    order_id = uid()
    paid = commerce.OrderPaid(
        order_id=order_id, member_id=uid(), currency_code="CNY", paid_amount_minor=12_300
    )
    event_id = await storefront.publish(paid)
    (raw,) = await commerce_tap.wait_for("commerce.order.paid.v1", subject=order_id)
    message = commerce_tap.raw("commerce.order.paid.v1")[-1]
    user = publishers.broker_user(servers.publisher_urls()["commerce"])
    assert (message.user_id, message.message_id, message.type) == (
        user,
        event_id,
        "commerce.order.paid.v1",
    )
    headers = message.headers or {}
    assert headers["ce-specversion"] == "1.0" and headers["ce-source"] == "/storefront/test"
    assert message.content_type == "application/json"
    assert json.loads(message.body) == {
        "orderId": order_id,
        "memberId": paid.member_id,
        "currencyCode": "CNY",
        "paidAmountMinor": "12300",
    }
    # What a service's consumer does with it (kit.inbox): parse, check the publisher, read
    # the payload.
    envelope = events.from_amqp(message)
    assert (envelope.id, envelope.type, envelope.subject) == (raw.id, raw.type, order_id)
    trusted = publishers.Publishers.parse(servers.publisher_settings("points")["event_publishers"])
    assert trusted.trusts(envelope.type, message.user_id)
    assert envelope.payload(commerce.OrderPaid) == paid


async def test_a_retried_publish_keeps_its_event_id_and_the_subject_follows_the_contract(
    storefront, commerce_tap
):
    payment = commerce.PaymentSucceeded(
        payment_id=uid(),
        member_id=uid(),
        purpose="subscription",
        reference_id=uid(),
        amount=money_pb2.Money(currency_code="CNY", amount_minor=1_900),
    )
    first = await storefront.publish(payment)
    again = await storefront.publish(payment, event_id=first)
    sent = await commerce_tap.wait_for(
        "commerce.payment.succeeded.v1", subject=payment.payment_id, count=2
    )
    assert [e.id for e in sent] == [first, again] == [first, first]
    assert subject_of(commerce.ProductShared(share_id="s-1")) == "s-1"
    assert subject_of(commerce.QuestionAnswered(answer_id="a-1")) == "a-1"
    assert subject_of(commerce.ReviewPosted(review_id="r-1", order_id="o-1")) == "o-1"
    with pytest.raises(ValueError, match="order_id"):
        subject_of(commerce.OrderCompleted())
    shared = commerce.ProductShared(share_id="s-2", member_id=uid(), sku="sku-1")
    await storefront.publish(shared, subject="my-subject")
    await commerce_tap.wait_for("commerce.product.shared.v1", subject="my-subject")


async def test_a_storefront_publishes_commerce_events_only_and_reads_suite_events_only(
    storefront,
):
    with pytest.raises(ValueError, match="loyalty.commerce.v1"):
        await storefront.publish(growth.GrowthTierChanged(member_id=uid()))
    with pytest.raises(ValueError, match="storefront event"):
        await storefront.subscribe("mine", commerce.OrderPaid)


async def test_an_event_no_queue_takes_is_not_routed(amqp):
    """Nothing is bound on an exchange of its own (the run's administrative user declares it):
    the broker hands the event back, and the client says so instead of losing it quietly."""
    exchange = f"test.{servers.RUN}.storefront.unbound"
    store = await Storefront.connect(servers.AMQP_URL, source="/s", commerce_exchange=exchange)
    try:
        with pytest.raises(NotRouted, match="commerce.order.completed.v1"):
            await store.publish(commerce.OrderCompleted(order_id="o-1", member_id=uid()))
    finally:
        await store.close()
        channel = await amqp.channel()
        await channel.exchange_delete(exchange)
        await channel.close()


async def test_suite_events_arrive_parsed_and_are_acknowledged_when_the_loop_moves_on(
    storefront, events_exchange, publish
):
    member = uid()
    subscription = await storefront.subscribe(
        "tiers", growth.GrowthTierChanged, identity.MemberVerified
    )
    assert storefront.user == publishers.broker_user(servers.publisher_urls()["commerce"])
    assert subscription.name == f"{NAMES['queue_prefix']}{storefront.user}.tiers"
    try:
        # Not subscribed: never delivered (it would come first).
        await publish(
            type_of(identity.MemberRegistered), member, identity.MemberRegistered(member_id=member)
        )
        changed = growth.GrowthTierChanged(
            member_id=member, previous_tier=gres.TIER_REGISTERED, tier=gres.TIER_BRONZE
        )
        first = await publish(type_of(changed), member, changed)
        event = await next_event(subscription)
        assert (event.id, event.type, event.subject) == (
            first,
            "loyalty.growth.growth.tier_changed.v1",
            member,
        )
        assert event.message == changed and isinstance(event.message, growth.GrowthTierChanged)
        assert event.publisher == publishers.broker_user(servers.publisher_urls()["growth"])
    finally:
        await subscription.close()  # the loop left before asking for the next one

    again = await storefront.subscribe("tiers", growth.GrowthTierChanged, identity.MemberVerified)
    try:
        assert (await next_event(again)).id == first  # not acknowledged: delivered again
        verified = identity.MemberVerified(member_id=member)
        second = await publish(type_of(verified), member, verified)
        event = await next_event(again)  # asking for it acknowledged the first
        assert (event.id, event.message) == (second, verified)
    finally:
        await again.close()

    last = await storefront.subscribe("tiers", growth.GrowthTierChanged, identity.MemberVerified)
    try:
        assert (await next_event(last)).id == second  # the first is gone for good
        with pytest.raises(TimeoutError):
            await next_event(last, timeout=0.5)
    finally:
        await last.close(delete_queue=True)


async def test_a_message_that_is_no_event_of_the_subscription_is_dropped(
    storefront, events_exchange, amqp, publish
):
    member = uid()
    subscription = await storefront.subscribe(f"drops-{member}", growth.GrowthTierChanged)
    type_ = type_of(growth.GrowthTierChanged)
    try:
        # Straight into the subscription's queue: on the run's exchange it would reach the
        # session's taps too, which read every message as an event.
        channel = await amqp.channel(publisher_confirms=True)
        await channel.default_exchange.publish(
            aio_pika.Message(body=b"not an event", content_type="text/plain"),
            routing_key=subscription.name,
        )
        await channel.close()
        await publish(type_, member, {"memberId": {"not": "a string"}})
        good = await publish(type_, member, growth.GrowthTierChanged(member_id=member))
        event = await next_event(subscription)
        assert event.id == good
    finally:
        await subscription.close(delete_queue=True)


async def test_closing_the_storefront_ends_its_loops(storefront, events_exchange, amqp):
    subscription = await storefront.subscribe(f"ends-{uid()}", growth.GrowthTierChanged)
    loop = asyncio.create_task(anext(subscription))
    await asyncio.sleep(0.05)
    await storefront.close()
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(loop, 5)
    channel = await amqp.channel()
    await channel.queue_delete(subscription.name, if_unused=False, if_empty=False)
    await channel.close()
