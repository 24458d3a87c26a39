"""docs/asyncapi.yaml is what tools/asyncapi/ generates from the current events.proto files."""

from __future__ import annotations

from tools import asyncapi


def test_asyncapi_document_is_current():
    stale = asyncapi.diff()
    assert not stale, (
        f"{asyncapi.OUTPUT.relative_to(asyncapi.ROOT)} is stale: run `make asyncapi`\n{stale}"
    )


def test_every_event_has_a_channel_an_operation_and_a_message():
    document = asyncapi.build()
    channels, operations = document["channels"], document["operations"]
    messages = document["components"]["messages"]
    assert "loyalty.identity.member.registered.v1" in channels
    assert "loyalty.points.points.credited.v1" in channels
    assert "commerce.order.paid.v1" in channels
    for address, channel in channels.items():
        assert channel["address"] == address
        (name,) = channel["messages"]
        action = "send" if address.startswith("commerce.") else "receive"
        assert operations[f"{action}{name}"]["channel"] == {"$ref": f"#/channels/{address}"}
        assert messages[name]["bindings"]["amqp"]["messageType"] == address
    assert len(operations) == len(channels) == len(messages)
