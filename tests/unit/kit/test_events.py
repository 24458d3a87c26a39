"""CloudEvents on the wire: binary mode headers, the round trip, and what is not an event."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

import aio_pika
import pytest
from google.protobuf import struct_pb2
from google.protobuf.descriptor_pb2 import FileDescriptorProto

from loyalty.commerce.v1 import events_pb2 as commerce_events
from loyalty.identity.v1 import events_pb2 as identity_events
from loyalty.points.v1 import events_pb2 as points_events
from services.kit import errors, events


@dataclass
class Delivery:
    """What from_amqp reads of an incoming message."""

    body: bytes
    content_type: str | None = None
    headers: dict = field(default_factory=dict)


def _as_delivered(message: aio_pika.Message) -> Delivery:
    # The broker hands headers back as bytes or str; both must parse.
    headers = {k: v.encode() if k == "ce-source" else v for k, v in message.headers.items()}
    return Delivery(body=message.body, content_type=message.content_type, headers=headers)


def _message(**overrides) -> aio_pika.Message:
    values = dict(
        event_id=str(uuid.uuid4()),
        type_="loyalty.points.points.earned.v1",
        source="/loyalty/points",
        subject="member-1",
        data={"memberId": "member-1", "points": "120"},
        time=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        traceparent="00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    )
    values.update(overrides)
    return events.to_amqp(**values)


def test_event_type_comes_from_the_message_name_and_package():
    assert events.type_of(identity_events.MemberRegistered) == (
        "loyalty.identity.member.registered.v1"
    )
    assert events.type_of(identity_events.MemberAccountLinked()) == (
        "loyalty.identity.member.account_linked.v1"
    )
    assert events.type_of(points_events.PointsHoldReleased) == (
        "loyalty.points.points.hold_released.v1"
    )
    assert events.type_of(commerce_events.OrderPaid.DESCRIPTOR) == "commerce.order.paid.v1"


def test_a_payload_that_breaks_its_message_is_malformed():
    with pytest.raises(errors.Malformed, match="member_id|memberId|MemberRegistered"):
        events.parse_payload({"memberId": 12}, identity_events.MemberRegistered)


def test_to_amqp_is_binary_mode_with_ce_headers():
    message = _message(event_id="0192f0c4-7e1a-7b44-9a57-2d3c6c1b8f00")
    headers = message.headers
    assert headers["ce-specversion"] == "1.0"
    assert headers["ce-id"] == "0192f0c4-7e1a-7b44-9a57-2d3c6c1b8f00"
    assert headers["ce-type"] == "loyalty.points.points.earned.v1"
    assert headers["ce-source"] == "/loyalty/points"
    assert headers["ce-subject"] == "member-1"
    assert headers["ce-time"].startswith("2026-01-02T03:04:05")
    assert headers["traceparent"].startswith("00-4bf92f35")
    assert message.content_type == "application/json"
    assert message.message_id == "0192f0c4-7e1a-7b44-9a57-2d3c6c1b8f00"
    assert message.type == "loyalty.points.points.earned.v1"
    assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    assert json.loads(message.body) == {"memberId": "member-1", "points": "120"}


def test_to_amqp_without_traceparent_sends_no_header():
    assert "traceparent" not in _message(traceparent=None).headers


def test_round_trip_keeps_every_attribute_and_the_data():
    message = _message()
    envelope = events.from_amqp(_as_delivered(message))
    assert envelope == events.Envelope(
        id=message.message_id,
        type="loyalty.points.points.earned.v1",
        source="/loyalty/points",
        subject="member-1",
        time=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        data={"memberId": "member-1", "points": "120"},
    )


def test_round_trip_of_a_proto_payload():
    payload = struct_pb2.Struct()
    payload.update({"orderId": "o-1", "amount": {"units": 12, "currency": "CNY"}})
    message = _message(data=events.payload_json(payload))
    envelope = events.from_amqp(_as_delivered(message))
    assert envelope.payload(struct_pb2.Struct) == payload


def test_time_defaults_to_now():
    before = datetime.now(UTC)
    envelope = events.from_amqp(_as_delivered(_message(time=None)))
    assert before <= envelope.time <= datetime.now(UTC)


def test_headers_the_broker_adds_do_not_disturb_parsing():
    delivered = _as_delivered(_message())
    delivered.headers["x-delivery-count"] = 2
    delivered.headers["x-death"] = [{"count": 1, "reason": "rejected"}]
    assert events.from_amqp(delivered).subject == "member-1"


def test_structured_mode_is_accepted():
    body = json.dumps(
        {
            "specversion": "1.0",
            "id": "e-1",
            "type": "commerce.order.paid.v1",
            "source": "/storefront/s1",
            "subject": "order-9",
            "datacontenttype": "application/json",
            "data": {"orderId": "order-9"},
        }
    ).encode()
    envelope = events.from_amqp(
        Delivery(body=body, content_type="application/cloudevents+json", headers={})
    )
    assert (envelope.id, envelope.type, envelope.subject) == (
        "e-1",
        "commerce.order.paid.v1",
        "order-9",
    )
    assert envelope.data == {"orderId": "order-9"}


def test_parse_payload_ignores_unknown_fields():
    parsed = events.parse_payload({"name": "a.proto", "addedLater": 1}, FileDescriptorProto)
    assert parsed == FileDescriptorProto(name="a.proto")
    assert events.parse_payload('{"name": "b", "x": 2}', FileDescriptorProto).name == "b"
    assert events.parse_payload(None, FileDescriptorProto) == FileDescriptorProto()


def test_a_redelivered_event_keeps_its_id():
    """The inbox dedupes on the id: parsing the same delivery twice must give the same one."""
    delivered = _as_delivered(_message())
    assert events.from_amqp(delivered).id == events.from_amqp(delivered).id


@pytest.mark.parametrize(
    "delivery",
    [
        Delivery(body=b"not an event", content_type="text/plain"),
        Delivery(body=b"not an event"),
        Delivery(body=b"{}", content_type="application/json"),
        Delivery(body=b"{nope", content_type="application/cloudevents+json"),
        Delivery(
            body=b'{"specversion": "1.0", "type": "t", "source": "/s"}',
            content_type="application/cloudevents+json",
        ),
    ],
    ids=["text", "no-content-type", "json-without-ce-headers", "broken-json", "no-id"],
)
def test_what_is_no_cloudevent_raises_value_error(delivery):
    with pytest.raises(ValueError):
        events.from_amqp(delivery)


def test_data_that_is_no_json_object_raises_value_error():
    for body in (b"[1, 2]", b'"text"', b"{broken"):
        delivered = _as_delivered(_message())
        delivered.body = body
        with pytest.raises(ValueError):
            events.from_amqp(delivered)


def test_missing_required_header_raises_value_error():
    for name in ("ce-id", "ce-type", "ce-source", "ce-specversion"):
        delivered = _as_delivered(_message())
        del delivered.headers[name]
        with pytest.raises(ValueError):
            events.from_amqp(delivered)
