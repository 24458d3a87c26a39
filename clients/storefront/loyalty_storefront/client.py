"""A storefront on the suite's broker: it publishes its commerce events and reads the suite's.

    async with await Storefront.connect(url, source="/storefront/shop-1") as shop:
        await shop.publish(OrderPaid(order_id="o-1", member_id=..., ...))
        tiers = await shop.subscribe("badges", GrowthTierChanged)
        async for event in tiers:
            update_badge(event.message.member_id, event.message.tier)

`url` names the storefront's own broker user (`amqp://storefront:…@host/`): the suite applies
a commerce event only from the user it trusts for them, every message carries that user as its
AMQP `user_id` (the broker refuses a message claiming another), and the broker lets the user
publish `commerce.*` types only, and read the suite's events into queues named
`<prefix><user>.<name>` only (services/kit/publishers.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

import aio_pika
import aiormq
from google.protobuf.message import Message

from . import envelope

M = TypeVar("M", bound=Message)
log = logging.getLogger("loyalty_storefront")

# The payload field an event's subject is, where it is not the order (proto/loyalty/commerce/v1).
_SUBJECT_FIELDS = {
    "PaymentSucceeded": "payment_id",
    "PaymentFailed": "payment_id",
    "QuestionAnswered": "answer_id",
    "ProductShared": "share_id",
}


class NotRouted(Exception):
    """The broker took the event but no queue is bound for its type: no service has ever
    consumed it there. Nothing was delivered; publish it again (with the same event id)."""


@dataclass(frozen=True)
class SuiteEvent(Generic[M]):
    """A suite event as received: its CloudEvents attributes, the broker user that published
    it (the AMQP `user_id`, checked by the broker) and its payload as a proto message."""

    id: str
    type: str
    source: str
    subject: str | None
    time: datetime | None
    publisher: str | None
    message: M


class Storefront:
    """Publishes commerce events and subscribes to suite events on one broker connection.

    `source` is the CloudEvents source of what it publishes (`/storefront/<shop>`). The names
    default to the suite's: exchanges `commerce.events` and `loyalty.events`, no queue prefix
    (a deployment sharing a broker sets LOYALTY_QUEUE_PREFIX for the suite: give the same)."""

    def __init__(
        self,
        connection: aio_pika.abc.AbstractRobustConnection,
        *,
        source: str,
        commerce_exchange: str = "commerce.events",
        events_exchange: str = "loyalty.events",
        queue_prefix: str = "",
    ) -> None:
        self.connection = connection
        self.source = source
        self.commerce_exchange = commerce_exchange
        self.events_exchange = events_exchange
        self.queue_prefix = queue_prefix
        self.user = _user_of(connection)
        self._owned = False
        self._channel: aio_pika.abc.AbstractChannel | None = None
        self._exchange: aio_pika.abc.AbstractExchange | None = None
        self._opening = asyncio.Lock()
        self._subscriptions: list[Subscription] = []
        self._closed = False

    @classmethod
    async def connect(cls, url: str, *, source: str, **names: str) -> Storefront:
        """A Storefront on a connection of its own to `url`, closed with it."""
        storefront = cls(await aio_pika.connect_robust(url), source=source, **names)
        storefront._owned = True
        return storefront

    async def __aenter__(self) -> Storefront:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the subscriptions (what they delivered and the loop did not finish comes
        again), and the connection when `connect` opened it."""
        if self._closed:
            return
        self._closed = True
        for subscription in list(self._subscriptions):
            await subscription.close()
        if self._channel is not None:
            with contextlib.suppress(Exception):  # closing: a broken channel is gone already
                await self._channel.close()
            self._channel = self._exchange = None
        if self._owned:
            await self.connection.close()

    # --- publishing -------------------------------------------------------------------------
    async def publish(
        self,
        message: Message,
        *,
        subject: str | None = None,
        event_id: str | None = None,
        time: datetime | None = None,
    ) -> str:
        """Publish a commerce event (a message of `loyalty.commerce.v1`) and wait for the
        broker's confirmation; returns its event id. The suite applies an event once per id:
        to retry a publish whose outcome is unknown, give the id it had. The subject is the
        payload's order id (its payment, answer or share id for those events) unless given.
        Raises NotRouted when no queue is bound for the type, ValueError for a message that is
        no commerce event, and the broker's refusal (aio_pika's errors) as it comes."""
        package = message.DESCRIPTOR.file.package
        if package != envelope.COMMERCE_PACKAGE:
            raise ValueError(
                f"a storefront publishes {envelope.COMMERCE_PACKAGE} events, not {package}"
            )
        type_ = envelope.type_of(message)
        event_id = event_id or str(uuid.uuid4())
        exchange = await self._commerce()
        confirmation = await exchange.publish(
            envelope.to_amqp(
                event_id=event_id,
                type_=type_,
                source=self.source,
                subject=subject if subject is not None else subject_of(message),
                data=envelope.payload_json(message),
                time=time,
                user_id=self.user,
            ),
            routing_key=type_,
            mandatory=True,
        )
        # Only a Basic.Ack means "queued": a message no queue took comes back as a Return.
        if not isinstance(confirmation, aiormq.spec.Basic.Ack):
            raise NotRouted(f"no queue is bound for {type_} on {self.commerce_exchange}")
        return event_id

    async def _commerce(self) -> aio_pika.abc.AbstractExchange:
        async with self._opening:
            if self._exchange is None or self._channel is None or self._channel.is_closed:
                # A channel the broker closed (it refused a message) is replaced.
                self._channel = await self.connection.channel(publisher_confirms=True)
                # Declared as the services declare it (a durable topic exchange, no arguments):
                # the broker refuses a declaration that differs from the exchange's.
                self._exchange = await self._channel.declare_exchange(
                    self.commerce_exchange, aio_pika.ExchangeType.TOPIC, durable=True
                )
            return self._exchange

    # --- subscribing ------------------------------------------------------------------------
    async def subscribe(
        self, name: str, *message_classes: type[M], prefetch: int = 32
    ) -> Subscription[M]:
        """Declare the durable queue `<prefix><user>.<name>` (kept across restarts: nothing
        published meanwhile is lost), bind it to the suite events of `message_classes` and
        read them. Binding is additive: a queue keeps the bindings it was given before."""
        if not message_classes:
            raise ValueError("subscribe to at least one event message")
        by_type: dict[str, type[M]] = {}
        for message_class in message_classes:
            if message_class.DESCRIPTOR.file.package == envelope.COMMERCE_PACKAGE:
                raise ValueError(f"{message_class.__name__} is a storefront event, not a suite's")
            by_type[envelope.type_of(message_class)] = message_class
        channel = await self.connection.channel()
        await channel.set_qos(prefetch_count=prefetch)
        queue = await channel.declare_queue(
            f"{self.queue_prefix}{self.user}.{name}",
            durable=True,
            arguments={"x-queue-type": "quorum"},
        )
        # The suite declares its events exchange; a storefront may only read from it.
        for type_ in by_type:
            await queue.bind(self.events_exchange, routing_key=type_)
        subscription = Subscription(channel, queue, by_type, self._subscriptions.remove)
        await subscription.start()
        self._subscriptions.append(subscription)
        return subscription


def _user_of(connection: aio_pika.abc.AbstractRobustConnection) -> str:
    """The user the connection authenticated as (AMQP's default is guest): the broker checks
    every message's `user_id` against it."""
    url = getattr(connection, "url", None)  # the connection classes have it, the abstract not
    return (url.user if url is not None else None) or "guest"


def subject_of(message: Message) -> str:
    """The subject of a commerce event: its order id, or its payment, answer or share id."""
    field = _SUBJECT_FIELDS.get(message.DESCRIPTOR.name, "order_id")
    value = getattr(message, field, None)
    if not isinstance(value, str) or not value:
        raise ValueError(f"{message.DESCRIPTOR.name} has no {field}: give the subject")
    return value


class Subscription(Generic[M]):
    """Suite events as they arrive, parsed: `async for event in subscription`.

    An event is acknowledged when the loop asks for the next one: one the loop left (break,
    an error, a crash) is delivered again, to this subscription or the next one on the queue.
    Delivery is at least once, so a storefront applies an event once by its `id`. A message
    that is no event of the subscribed types is logged and dropped."""

    def __init__(
        self,
        channel: aio_pika.abc.AbstractChannel,
        queue: aio_pika.abc.AbstractQueue,
        by_type: dict[str, type[M]],
        forget: Callable[[Subscription], None],
    ) -> None:
        self.channel = channel
        self.queue = queue
        self.name = queue.name
        self._by_type = by_type
        self._forget = forget
        self._arrived: asyncio.Queue[aio_pika.abc.AbstractIncomingMessage | None] = asyncio.Queue()
        self._unacked: aio_pika.abc.AbstractIncomingMessage | None = None
        self._closed = False
        self._tag: str | None = None

    async def start(self) -> None:
        self._tag = await self.queue.consume(self._arrived.put)

    def __aiter__(self) -> Subscription[M]:
        return self

    async def __anext__(self) -> SuiteEvent[M]:
        await self._ack()
        while True:
            message = await self._arrived.get() if not self._closed else None
            if message is None:
                raise StopAsyncIteration
            event = self._parse(message)
            if event is not None:
                self._unacked = message
                return event
            await message.reject(requeue=False)

    async def _ack(self) -> None:
        message, self._unacked = self._unacked, None
        if message is not None:
            # A channel lost meanwhile gave the message back to the queue: it comes again.
            with contextlib.suppress(aio_pika.exceptions.AMQPError, RuntimeError):
                await message.ack()

    def _parse(self, message: aio_pika.abc.AbstractIncomingMessage) -> SuiteEvent[M] | None:
        try:
            received = envelope.from_amqp(message)
            message_class = self._by_type.get(received.type)
            if message_class is None:
                raise ValueError(f"not a subscribed type: {received.type!r}")
            payload = received.payload(message_class)
        except ValueError as exc:  # PayloadError included
            log.warning("dropped a message of %s: %s", self.name, exc)
            return None
        return SuiteEvent(
            id=received.id,
            type=received.type,
            source=received.source,
            subject=received.subject,
            time=received.time,
            publisher=message.user_id,
            message=payload,
        )

    async def close(self, *, delete_queue: bool = False) -> None:
        """Stop reading; what was delivered and not acknowledged goes back to the queue.
        `delete_queue` deletes the queue too (its bindings and what waits in it)."""
        if self._closed:
            return
        self._closed = True
        self._arrived.put_nowait(None)  # a loop waiting for the next event ends
        self._forget(self)
        try:
            if delete_queue:
                if self._tag is not None:  # else the broker cancels it, with a warning
                    await self.queue.cancel(self._tag)
                await self.queue.delete(if_unused=False, if_empty=False)
        finally:
            with contextlib.suppress(Exception):  # closing: a broken channel is gone already
                await self.channel.close()
