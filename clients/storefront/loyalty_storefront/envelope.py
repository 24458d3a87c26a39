"""The suite's event envelope, for the suite and storefronts alike: CloudEvents 1.0 in binary
mode on RabbitMQ, proto3 JSON payloads, and the rule that names an event's type.

The services' runtime (`services/kit/events.py`) builds on this module, so that a storefront
publishing with this package and a service consuming what it published cannot disagree on a
header, a type name or a payload's form.
"""

from __future__ import annotations

import builtins
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import aio_pika
from cloudevents.core.bindings import rabbitmq as ce_rabbitmq
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from google.protobuf import descriptor, json_format
from google.protobuf.message import Message

M = TypeVar("M", bound=Message)
_FORMAT = JSONFormat()

# Storefronts publish their events under their own prefix, not the suite's.
COMMERCE_PACKAGE = "loyalty.commerce.v1"


class PayloadError(ValueError):
    """A payload that does not fit the message it should be."""


def type_of(message: Message | type[Message] | descriptor.Descriptor) -> str:
    """The CloudEvents type (and routing key) of an event message, from its proto name alone:
    MemberAccountLinked in `loyalty.identity.v1` → `loyalty.identity.member.account_linked.v1`;
    OrderPaid in `loyalty.commerce.v1` → `commerce.order.paid.v1`. The first word of the
    message name is the entity, the rest the event. The AsyncAPI generator uses this rule too."""
    desc = message if isinstance(message, descriptor.Descriptor) else message.DESCRIPTOR
    words = [word.lower() for word in re.findall(r"[A-Z][a-z0-9]*", desc.name)]
    name = f"{words[0]}.{'_'.join(words[1:])}"
    package = desc.file.package
    if package == COMMERCE_PACKAGE:
        return f"commerce.{name}.v1"
    service = package.split(".")[1]  # loyalty.<svc>.v1
    return f"loyalty.{service}.{name}.v1"


def payload_json(message: Message) -> dict:
    """The proto3 JSON form of a payload (the CloudEvent's data)."""
    return json_format.MessageToDict(message)


def parse_payload(data: dict | str | bytes | None, message_class: type[M]) -> M:
    """A payload back into its proto message; unknown fields are ignored (forward compatible).
    A payload that does not fit the message is a PayloadError."""
    target = message_class()
    try:
        if isinstance(data, bytes | str):
            json_format.Parse(data, target, ignore_unknown_fields=True)
        else:
            json_format.ParseDict(data or {}, target, ignore_unknown_fields=True)
    except (json_format.ParseError, ValueError, TypeError) as exc:
        raise PayloadError(f"not a {message_class.DESCRIPTOR.name}: {exc}") from exc
    return target


@dataclass(frozen=True)
class Envelope:
    """A received CloudEvent, independent of the broker's message object."""

    id: str
    type: str
    source: str
    subject: str | None
    time: datetime | None
    data: dict

    def payload(self, message_class: builtins.type[M]) -> M:
        return parse_payload(self.data, message_class)


def to_amqp(
    *,
    event_id: str,
    type_: str,
    source: str,
    subject: str,
    data: dict,
    time: datetime | None = None,
    traceparent: str | None = None,
    user_id: str | None = None,
) -> aio_pika.Message:
    """A CloudEvent in binary content mode: attributes as `ce-*` headers, data as the body,
    AMQP `message_id` = the event id, `type` = the event type. `user_id` is the publisher's
    broker user, which the broker checks against the connection's."""
    event = CloudEvent(
        attributes={
            "id": event_id,
            "type": type_,
            "source": source,
            "subject": subject,
            "time": time or datetime.now(UTC),
            "datacontenttype": "application/json",
        },
        data=data,
    )
    wire = ce_rabbitmq.to_binary(event, _FORMAT)
    headers: dict[str, aio_pika.abc.FieldValue] = dict(wire.headers)
    if traceparent:
        headers["traceparent"] = traceparent
    return aio_pika.Message(
        body=wire.body,
        content_type=wire.content_type,
        headers=headers,
        message_id=event_id,
        type=type_,
        user_id=user_id,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
    )


def from_amqp(message: aio_pika.abc.AbstractIncomingMessage) -> Envelope:
    """Parse a delivery (binary or structured mode); raises ValueError when it is no
    CloudEvent."""
    headers = {
        k: v.decode() if isinstance(v, bytes) else str(v)
        for k, v in (message.headers or {}).items()
    }
    wire = ce_rabbitmq.RabbitMQMessage(
        headers=headers, content_type=message.content_type, body=message.body
    )
    try:
        event = ce_rabbitmq.from_rabbitmq(wire, _FORMAT, _received_event)
    except Exception as exc:  # the SDK raises several types for malformed input
        raise ValueError(f"not a CloudEvent: {exc}") from exc
    data = event.get_data()
    if isinstance(data, bytes | str):
        try:
            data = json.loads(data)
        except ValueError as exc:
            raise ValueError("event data is not JSON") from exc
    if data is not None and not isinstance(data, dict):
        raise ValueError("event data is not a JSON object")
    return Envelope(
        id=event.get_id(),
        type=event.get_type(),
        source=event.get_source(),
        subject=event.get_subject(),
        time=event.get_time(),
        data=data or {},
    )


def _received_event(attributes: dict, data: Any) -> CloudEvent:
    """A CloudEvent as received: the SDK would invent a random `id` and assume `specversion`
    when they are missing, and a fresh id on every redelivery defeats deduplication (the
    effect would apply once per delivery). Such a message is malformed."""
    missing = [name for name in ("id", "specversion") if not attributes.get(name)]
    if missing:
        raise ValueError(f"missing required attribute(s): {', '.join(missing)}")
    return CloudEvent(attributes=attributes, data=data)
