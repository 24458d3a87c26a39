"""CloudEvents on RabbitMQ: the envelope, proto3 JSON payloads and the exchange topology.

The envelope itself (the `ce-*` headers, the payload's JSON form, the type naming rule) is
shared with storefronts: it lives in the storefront client package
(`clients/storefront/loyalty_storefront/envelope.py`), so that what a storefront publishes and
what a service reads cannot drift apart. What is the services' own is here: a payload that
does not fit is `errors.Malformed` (dead-lettered at once), the inbox's notion of "the same
event", and the exchanges.
"""

from __future__ import annotations

import builtins
import hashlib
import json
from dataclasses import dataclass
from typing import TypeVar

import aio_pika
import aiormq
from google.protobuf.message import Message

from loyalty_storefront import envelope as shared
from loyalty_storefront.envelope import COMMERCE_PACKAGE, payload_json, to_amqp, type_of

from . import errors

__all__ = [
    "COMMERCE_PACKAGE",
    "Envelope",
    "TopologyMismatch",
    "content_hash",
    "declare_exchanges",
    "from_amqp",
    "parse_payload",
    "payload_json",
    "to_amqp",
    "type_of",
]

M = TypeVar("M", bound=Message)


def parse_payload(data: dict | str | bytes | None, message_class: type[M]) -> M:
    """A payload back into its proto message; unknown fields are ignored (forward compatible).
    A payload that does not fit the message is `errors.Malformed`."""
    try:
        return shared.parse_payload(data, message_class)
    except shared.PayloadError as exc:
        raise errors.Malformed([("data", str(exc))]) from exc


@dataclass(frozen=True)
class Envelope(shared.Envelope):
    """A received CloudEvent; its payload, parsed, is `errors.Malformed` when it does not fit."""

    def payload(self, message_class: builtins.type[M]) -> M:
        return parse_payload(self.data, message_class)


def from_amqp(message: aio_pika.abc.AbstractIncomingMessage) -> Envelope:
    """Parse a delivery (binary or structured mode); raises ValueError when it is no CloudEvent."""
    return Envelope(**vars(shared.from_amqp(message)))


def content_hash(envelope: Envelope) -> bytes:
    """What makes two deliveries "the same event": type, subject and data (not the time or the
    transport's headers, which a faithful redelivery may change)."""
    canonical = json.dumps(
        [envelope.type, envelope.subject, envelope.data], sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(canonical.encode()).digest()


class TopologyMismatch(errors.Misconfigured):
    """The broker has an exchange declared otherwise than the suite declares it (an older
    version's): the message says the one command that fixes it."""


# What the unrouted queue keeps at most: the newest events nobody has bound a queue to yet.
UNROUTED_MAX_LENGTH = 100_000


async def declare_exchanges(
    channel: aio_pika.abc.AbstractChannel, *names: str, unrouted: str | None = None
) -> list[aio_pika.abc.AbstractExchange]:
    """The suite's topic exchanges are durable; declaring them is idempotent. With `unrouted`,
    every one of `names` gets the alternate exchange of that name, which keeps what no queue is
    bound for in a durable queue of the same name (an event with no subscriber yet is normal,
    not an error). Every declarer of an exchange must pass the same `unrouted`: the broker
    refuses a declaration whose arguments differ from the exchange's."""
    arguments: dict[str, aio_pika.abc.FieldValue] | None = None
    if unrouted:
        alternate = await channel.declare_exchange(
            unrouted, aio_pika.ExchangeType.FANOUT, durable=True
        )
        queue = await channel.declare_queue(
            unrouted,
            durable=True,
            arguments={
                "x-queue-type": "quorum",
                "x-max-length": UNROUTED_MAX_LENGTH,
                "x-overflow": "drop-head",
            },
        )
        await queue.bind(alternate)
        arguments = {"alternate-exchange": unrouted}
    try:
        return [
            await channel.declare_exchange(
                name, aio_pika.ExchangeType.TOPIC, durable=True, arguments=arguments
            )
            for name in names
        ]
    except aiormq.exceptions.ChannelPreconditionFailed as exc:
        raise TopologyMismatch(
            f"exchange {', '.join(names)} exists with other arguments than "
            f"alternate-exchange={unrouted!r}: delete it once (its queues re-bind when their "
            f"consumers start): rabbitmqctl delete_exchange {names[0]}"
        ) from exc
