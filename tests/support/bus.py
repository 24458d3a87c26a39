"""Captures what services publish, and publishes events as a storefront would."""

from __future__ import annotations

import asyncio
import json
import uuid

import aio_pika
from google.protobuf.message import Message

from services.kit import events
from tests.support import servers


class Tap:
    """An exclusive queue bound to an exchange with '#': sees every event a test causes."""

    def __init__(self) -> None:
        self.messages: list[aio_pika.abc.AbstractIncomingMessage] = []
        self._arrived = asyncio.Condition()

    async def start(self, connection, exchange_name: str) -> None:
        channel = await connection.channel()
        (exchange,) = await servers.declare_exchange(channel, exchange_name)
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(exchange, routing_key="#")
        await queue.consume(self._on_message, no_ack=True)

    async def _on_message(self, message) -> None:
        async with self._arrived:
            self.messages.append(message)
            self._arrived.notify_all()

    def envelopes(self, type_: str | None = None, subject: str | None = None):
        found = [events.from_amqp(m) for m in self.messages]
        return [
            e
            for e in found
            if (type_ is None or e.type == type_) and (subject is None or e.subject == subject)
        ]

    async def wait_for(
        self, type_: str, subject: str | None = None, count: int = 1, timeout: float = 10.0
    ):
        """The first `count` events of a type (and subject), waiting until they arrive."""

        async def enough():
            async with self._arrived:
                await self._arrived.wait_for(lambda: len(self.envelopes(type_, subject)) >= count)

        await asyncio.wait_for(enough(), timeout)
        return self.envelopes(type_, subject)[:count]

    def raw(self, type_: str) -> list[aio_pika.abc.AbstractIncomingMessage]:
        return [m for m in self.messages if m.routing_key == type_]


async def publish(
    connection,
    exchange_name: str,
    type_: str,
    subject: str,
    payload: Message | dict,
    event_id: str | None = None,
    source: str = "/storefront/test",
) -> str:
    """Publish a CloudEvent the way an outside producer would, as the connection's broker user
    (the AMQP user_id property, which the broker checks); returns its id."""
    event_id = event_id or str(uuid.uuid4())
    data = payload if isinstance(payload, dict) else events.payload_json(payload)
    channel = await connection.channel(publisher_confirms=True)
    (exchange,) = await servers.declare_exchange(channel, exchange_name)
    await exchange.publish(
        events.to_amqp(
            event_id=event_id,
            type_=type_,
            source=source,
            subject=subject,
            data=data,
            user_id=connection.url.user or "guest",
        ),
        routing_key=type_,
    )
    await channel.close()
    return event_id


async def publish_raw(connection, exchange_name: str, routing_key: str, body: bytes) -> None:
    channel = await connection.channel(publisher_confirms=True)
    (exchange,) = await servers.declare_exchange(channel, exchange_name)
    await exchange.publish(
        aio_pika.Message(body=body, content_type="text/plain"), routing_key=routing_key
    )
    await channel.close()


def data(envelope) -> dict:
    return json.loads(json.dumps(envelope.data))
