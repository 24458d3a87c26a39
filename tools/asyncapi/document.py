"""The AsyncAPI document: an event becomes a channel, an operation and a message."""

from __future__ import annotations

import re
from typing import Any

from google.protobuf import descriptor

from services.kit import events, publishers
from services.kit.config import ServiceSettings
from tools.asyncapi import protos
from tools.asyncapi.schemas import REF, Schemas

# The exchanges the services use unless configured otherwise.
SUITE_EXCHANGE = ServiceSettings.model_fields["events_exchange"].default
COMMERCE_EXCHANGE = ServiceSettings.model_fields["commerce_exchange"].default
AMQP_BINDING_VERSION = "0.3.0"
HEADERS_SCHEMA = "CloudEventHeaders"

DESCRIPTION = f"""\
Every event of the loyalty suite, described from the point of view of a **storefront** (or any
other application integrating with the suite): it **receives** the events the suite publishes on
the topic exchange `{SUITE_EXCHANGE}` and **sends** its commerce events to the topic exchange
`{COMMERCE_EXCHANGE}`, which the suite consumes.

**Outside producers.** The `loyalty.risk.*` and `loyalty.credit.*` events are not the suite's
own: the platform's risk system and a credit bureau's feed publish them on `{SUITE_EXCHANGE}`,
each as a broker user of its own allowed to publish nothing else, and the growth service
consumes them (its `risk` and `credit` tags say how to publish them). They are listed as
received like the rest, since any application may bind a queue to them.

Generated from `proto/loyalty/*/v1/events.proto` by `tools/asyncapi/` (`make asyncapi`); the
proto files are the contract.

**Envelope.** Each message is a CloudEvent 1.0 in AMQP binary content mode: the attributes travel
as `ce-*` application headers (plus an optional W3C `traceparent`), the body is the event's proto
message in proto3 JSON, the AMQP `content_type` property is `application/json`, `message_id`
equals `ce-id`, the `type` property equals `ce-type`, and the routing key is the type. Messages
are persistent (`delivery_mode` 2).

**Payloads.** proto3 JSON: field names in lowerCamelCase, 64-bit integers as decimal strings,
enums by value name, timestamps as RFC 3339 strings in UTC. Fields holding their default value
(0, "", false, an empty list, the enum's zero value) and unset messages are omitted, so no field
is required: read an absent field as its default. Ignore unknown fields; fields may be added
within v1.

**Delivery** is at least once and unordered, in both directions: deduplicate on `ce-id` and
tolerate any order. To consume, bind a durable queue to `{SUITE_EXCHANGE}` with a pattern such as
`loyalty.identity.#` or `loyalty.points.points.credited.v1`."""


# The application headers of every message; _headers narrows them per event.
_CE_HEADERS = {
    "type": "object",
    "description": "CloudEvents 1.0 attributes in AMQP binary content mode (`ce-` prefix).",
    "required": ["ce-specversion", "ce-id", "ce-source", "ce-type"],
    "properties": {
        "ce-specversion": {"type": "string", "const": "1.0"},
        "ce-id": {
            "type": "string",
            "minLength": 1,
            "description": (
                "Unique id of the event, also the AMQP `message_id`. A redelivery keeps it: "
                "deduplicate on it. The suite's ids are time-ordered UUIDs (v7)."
            ),
        },
        "ce-source": {
            "type": "string",
            "format": "uri-reference",
            "description": (
                "Who emitted the event: `/loyalty/<svc>` for the suite's services; for commerce "
                "events the storefront, e.g. `/storefront/<name>`."
            ),
        },
        "ce-type": {
            "type": "string",
            "description": "The event type; also the routing key and the AMQP `type` property.",
        },
        "ce-subject": {
            "type": "string",
            "description": (
                "Id of what the event is about, as each source's tag says: the member_id for "
                "identity, points, growth, risk and credit events (the client_id for `client.*` "
                "events), the subscription_id for subscription events, the card, batch, member "
                "or order id for giftcard events, the order_id (or payment_id) for commerce "
                "events."
            ),
        },
        "ce-time": {
            "type": "string",
            "format": "date-time",
            "description": "When the change happened (RFC 3339, UTC).",
        },
        "traceparent": {
            "type": "string",
            "pattern": "^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$",
            "description": "W3C trace context of the change that caused the event, when traced.",
        },
    },
}


def build() -> dict:
    """The whole document, from the events.proto files (commerce last)."""
    files, comments = protos.load()
    schemas = Schemas(comments)
    channels: dict = {}
    operations: dict = {}
    messages: dict = {}
    tags = []
    for file in files:
        service = file.package.split(".")[1]  # loyalty.<svc>.v1
        suite = file.package != events.COMMERCE_PACKAGE
        tags.append({"name": service, "description": comments.of_file(file.name) or file.name})
        for message, text in _events(file, comments):
            if message.name in messages:
                raise SystemExit(f"two events are called {message.name}")
            type_ = events.type_of(message)
            messages[message.name] = {
                "name": message.name,
                "title": _title(type_),
                "summary": _summary(text),
                "description": text,
                "contentType": "application/json",
                "headers": _headers(type_, suite),
                "payload": schemas.ref(message),
                "bindings": {
                    "amqp": {"messageType": type_, "bindingVersion": AMQP_BINDING_VERSION}
                },
                "tags": [{"name": service}],
            }
            channels[type_] = _channel(message.name, type_, suite)
            action = "receive" if suite else "send"
            operations[f"{action}{message.name}"] = _operation(
                action, message.name, type_, _summary(text), service
            )
    components: dict[str, Any] = {HEADERS_SCHEMA: _CE_HEADERS}
    components.update((name, schemas.schemas[name]) for name in sorted(schemas.schemas))
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Loyalty suite events",
            "version": "1.0.0",
            "description": DESCRIPTION,
            "tags": tags,
        },
        "defaultContentType": "application/json",
        "servers": {
            "rabbitmq": {
                "host": "localhost:5672",
                "protocol": "amqp",
                "protocolVersion": "0-9-1",
                "description": (
                    "The RabbitMQ of `make run` (`LOYALTY_AMQP_URL`, vhost `/`). The exchanges "
                    f"`{SUITE_EXCHANGE}` and `{COMMERCE_EXCHANGE}` are durable topic exchanges."
                ),
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {"schemas": components, "messages": messages},
    }


def _events(file: descriptor.FileDescriptor, comments: protos.Comments):
    """(message, comment) of each event of the file. An event's comment names its type, which
    must be the one the services publish it with; any other message must be part of an event."""
    found = list(file.message_types_by_name.values())
    parts = {
        field.message_type.full_name
        for message in found
        for field in message.fields
        if field.message_type is not None and field.message_type.file is file
    }
    for message in found:
        text = comments.of(message.full_name)
        named = re.search(r"\bType\s+`([^`]+)`", text)
        if named is None:
            if message.full_name in parts:
                continue  # e.g. OrderLine
            raise SystemExit(
                f"{file.name}: {message.name} names no type in its comment "
                '("Type `…`.") and is not part of an event'
            )
        if named.group(1) != events.type_of(message):
            raise SystemExit(
                f"{file.name}: {message.name} says type `{named.group(1)}`, but the services "
                f"publish it as `{events.type_of(message)}`"
            )
        yield message, text


def _title(type_: str) -> str:
    """`loyalty.identity.member.account_linked.v1` → "Member account linked"."""
    entity, event = type_.split(".")[-3:-1]
    return f"{entity} {event.replace('_', ' ')}".capitalize()


def _summary(text: str) -> str:
    """The first sentence."""
    flat = " ".join(text.split())
    match = re.match(r"(.+?[.!?])(?=\s+[A-Z]|$)", flat)
    return match.group(1) if match else flat


def _headers(type_: str, suite: bool) -> dict:
    """The CloudEvents headers, narrowed to this type; the suite's own events carry more."""
    overlay: dict = {"ce-type": {"const": type_}}
    schema: dict = {"type": "object", "properties": overlay}
    if suite:
        source = type_.split(".")[1]
        overlay["ce-source"] = {"const": f"/loyalty/{source}"}
        if source in publishers.OUTSIDE:
            # An outside system's ids are its own (only unique), and its events carry their
            # business time in the payload; the subject is the member all the same.
            schema["required"] = ["ce-subject"]
        else:
            overlay["ce-id"] = {"format": "uuid"}
            schema["required"] = ["ce-subject", "ce-time"]
    return {"allOf": [{"$ref": REF + HEADERS_SCHEMA}, schema]}


def _channel(name: str, type_: str, suite: bool) -> dict:
    exchange = SUITE_EXCHANGE if suite else COMMERCE_EXCHANGE
    return {
        "address": type_,
        "title": _title(type_),
        "description": f"Routing key `{type_}` on the topic exchange `{exchange}`.",
        "messages": {name: {"$ref": f"#/components/messages/{name}"}},
        "bindings": {
            "amqp": {
                "is": "routingKey",
                "exchange": {
                    "name": exchange,
                    "type": "topic",
                    "durable": True,
                    "autoDelete": False,
                    "vhost": "/",
                },
                "bindingVersion": AMQP_BINDING_VERSION,
            }
        },
    }


def _operation(action: str, name: str, type_: str, summary: str, service: str) -> dict:
    # The storefront receives the suite's events (and acks them) and sends commerce events
    # (persistent).
    amqp = {"ack": True} if action == "receive" else {"deliveryMode": 2}
    return {
        "action": action,
        "channel": {"$ref": f"#/channels/{type_}"},
        "summary": summary,
        "messages": [{"$ref": f"#/channels/{type_}/messages/{name}"}],
        "tags": [{"name": service}],
        "bindings": {"amqp": {**amqp, "bindingVersion": AMQP_BINDING_VERSION}},
    }
