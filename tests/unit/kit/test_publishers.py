"""Who may publish what: the trust table and the broker users built from it."""

from __future__ import annotations

import base64
import hashlib
import re

import pytest

from services.kit import errors, publishers


def test_the_source_of_a_type_is_its_prefix():
    assert publishers.source_of("loyalty.identity.member.frozen.v1") == "identity"
    assert publishers.source_of("commerce.order.paid.v1") == "commerce"
    assert publishers.source_of("loyalty.x") == ""
    assert publishers.source_of("elsewhere.order.paid.v1") == ""


def test_the_default_trusts_each_service_with_its_own_events_and_storefronts_with_commerce():
    trust = publishers.Publishers.parse(publishers.DEFAULT_SPEC)
    assert trust.trusts("loyalty.identity.member.unfrozen.v1", "identity")
    assert not trust.trusts("loyalty.identity.member.unfrozen.v1", "storefront")
    assert not trust.trusts("loyalty.identity.member.unfrozen.v1", "points")
    assert trust.trusts("commerce.order.paid.v1", "storefront")
    assert not trust.trusts("commerce.order.paid.v1", "guest")
    assert not trust.trusts("commerce.order.paid.v1", None)  # no user_id at all
    assert not trust.trusts("loyalty.unknown.thing.happened.v1", "unknown")


def test_one_user_may_be_trusted_with_everything_when_said_so():
    trust = publishers.Publishers.parse("*=guest")
    assert trust.trusts("commerce.order.paid.v1", "guest")
    assert trust.trusts("loyalty.points.points.credited.v1", "guest")
    assert not trust.trusts("commerce.order.paid.v1", "storefront")


@pytest.mark.parametrize(
    "spec", ["", "identity", "identity=", "=identity", "nobody=x", "identity=bad user", ","]
)
def test_a_malformed_spec_stops_the_service_with_one_line(spec):
    with pytest.raises(errors.Misconfigured):
        publishers.Publishers.parse(spec)


def test_the_broker_user_of_a_url():
    assert publishers.broker_user("amqp://points:secret@host:5672/") == "points"
    assert publishers.broker_user("amqp://a%40b:pw@host/") == "a@b"
    assert publishers.broker_user("amqp://host/") == "guest"


def test_password_hash_is_rabbitmqs_salted_sha256():
    encoded = publishers.password_hash("s3cret", salt=b"\x01\x02\x03\x04")
    raw = base64.b64decode(encoded)
    assert raw[:4] == b"\x01\x02\x03\x04"
    assert raw[4:] == hashlib.sha256(b"\x01\x02\x03\x04s3cret").digest()
    assert publishers.password_hash("s3cret") != publishers.password_hash("s3cret")  # salted


def _definitions(prefix: str = ""):
    users = {source: (user, "pw") for source, user in publishers.SOURCES.items()}
    return publishers.definitions(users, publishers.Names(queue_prefix=prefix))


def _grant(defs, user: str, kind: str) -> re.Pattern:
    (grant,) = [p for p in defs["permissions"] if p["user"] == user]
    return re.compile(grant[kind])


def test_a_service_writes_its_own_types_only_and_never_the_commerce_exchange():
    defs = _definitions()
    topics = {(t["user"], t["exchange"]): t["write"] for t in defs["topic_permissions"]}
    assert re.match(topics["points", "loyalty.events"], "loyalty.points.points.credited.v1")
    assert not re.match(topics["points", "loyalty.events"], "loyalty.identity.member.frozen.v1")
    write = _grant(defs, "points", "write")
    assert write.match("loyalty.events") and write.match("points.commerce")
    assert write.match("amq.default")  # dead-letters replay
    assert not write.match("commerce.events")
    assert not write.match("identity.revocations")  # another service's queue


def test_a_storefront_writes_commerce_events_only():
    defs = _definitions()
    write = _grant(defs, "storefront", "write")
    assert write.match("commerce.events") and write.match("storefront.orders")
    assert not write.match("loyalty.events")
    assert not write.match("amq.default")  # it could otherwise reach any queue
    topics = {(t["user"], t["exchange"]): t["write"] for t in defs["topic_permissions"]}
    assert re.match(topics["storefront", "commerce.events"], "commerce.order.paid.v1")
    assert not re.match(topics["storefront", "commerce.events"], "loyalty.identity.x.v1")


def test_a_queue_prefix_scopes_the_queues():
    defs = _definitions(prefix="test.ab12.")
    configure = _grant(defs, "points", "configure")
    assert configure.match("test.ab12.points.identity")
    assert not configure.match("points.identity")
    assert not configure.match("test.ab12.identity.revocations")
