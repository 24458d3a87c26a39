"""Integration fixtures every service's tests share: identity (every service verifies tokens
with its keys, and flows across services start there), tokens, the events a run publishes."""

from __future__ import annotations

import datetime as dt

import aio_pika
import pytest

from loyalty.identity.v1 import identity_service_pb2_grpc
from services.identity.app import IdentityApp
from services.kit import publishers
from tests.support import bus, harness, servers


@pytest.fixture(scope="session")
async def identity_app(amqp):
    async with harness.running(IdentityApp, amqp) as app:
        yield app


@pytest.fixture
async def identity(identity_app):
    """The IdentityService stub on a clean database."""
    await harness.reset(identity_app, keep=("signing_keys",))
    return harness.stub(identity_app, identity_service_pb2_grpc.IdentityServiceStub)


@pytest.fixture
def mint(identity_app):
    """Access tokens signed by identity's key, for any principal a test needs."""

    def make(subject: str, kind: str = "member", scopes=(), ttl: int = 300) -> tuple:
        token = identity_app.signer.access_token(
            subject=subject, kind=kind, ttl=ttl, now=dt.datetime.now(dt.UTC), scopes=list(scopes)
        )
        return (("authorization", f"Bearer {token}"),)

    return make


@pytest.fixture(scope="session")
async def tap(amqp):
    """Every event this test run publishes on the suite's exchange."""
    capture = bus.Tap()
    await capture.start(amqp, servers.broker_settings()["events_exchange"])
    return capture


@pytest.fixture
def published():
    """Ids of the events this test published, by type."""
    return {}


@pytest.fixture(scope="session")
async def producers():
    """A broker connection per event source, as the run's user of that source: `await
    producers(source)`."""
    opened: dict[str, aio_pika.abc.AbstractRobustConnection] = {}

    async def connection(source: str):
        if source not in opened:
            opened[source] = await aio_pika.connect_robust(servers.publisher_urls()[source])
        return opened[source]

    yield connection
    for each in opened.values():
        await each.close()


@pytest.fixture
def publish(producers, published):
    """Publish a storefront or suite event the way its producer would: as its broker user."""
    names = servers.broker_settings()

    async def send(type_: str, subject: str, payload, event_id: str | None = None) -> str:
        commerce = type_.startswith("commerce.")
        exchange = names["commerce_exchange"] if commerce else names["events_exchange"]
        connection = await producers(publishers.source_of(type_))
        sent = await bus.publish(connection, exchange, type_, subject, payload, event_id=event_id)
        published.setdefault(type_, set()).add(sent)
        return sent

    return send
