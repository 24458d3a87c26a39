"""Integration fixtures: each service runs in-process on real PostgreSQL and RabbitMQ."""

from __future__ import annotations

import datetime as dt

import grpc
import pytest

from loyalty.identity.v1 import identity_service_pb2_grpc
from services.identity.app import IdentityApp
from services.identity.config import IdentitySettings
from tests.support import bus, servers


def identity_settings(**overrides):
    values = dict(
        database_url=servers.database_url("identity"),
        grpc_host="127.0.0.1",
        grpc_port=0,
        ops_port=0,
        data_key="MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
        lookup_key="ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA=",
        # Cheap hashes keep the suite fast; the benchmark measures production parameters.
        argon2_time_cost=1,
        argon2_memory_kib=1024,
        argon2_parallelism=1,
        relay_poll_seconds=0.2,
        **servers.broker_settings(),
    )
    return IdentitySettings.load(**{**values, **overrides})


@pytest.fixture(scope="session")
async def identity_app():
    settings = identity_settings()
    await servers.fresh_database(settings.dsn())
    app = IdentityApp(settings)
    await app.migrate()
    await app.start()
    yield app
    await app.stop()
    await servers.drop_database(settings.dsn())


@pytest.fixture(scope="session")
async def identity_channel(identity_app):
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{identity_app.grpc_port}")
    yield channel
    await channel.close()


@pytest.fixture
async def identity(identity_app, identity_channel):
    """The IdentityService stub on a clean database."""
    await servers.truncate_all(identity_app.pool, keep=("signing_keys",))
    return identity_service_pb2_grpc.IdentityServiceStub(identity_channel)


@pytest.fixture(scope="session")
async def tap(amqp):
    """Every event this test run publishes on the suite's exchange."""
    capture = bus.Tap()
    await capture.start(amqp, servers.broker_settings()["events_exchange"])
    return capture


@pytest.fixture
def mint(identity_app):
    """Access tokens signed by identity's key, for any principal a test needs."""

    def make(subject: str, kind: str = "member", scopes=(), ttl: int = 300) -> tuple:
        token = identity_app.signer.access_token(
            subject=subject, kind=kind, ttl=ttl, now=dt.datetime.now(dt.UTC), scopes=list(scopes)
        )
        return (("authorization", f"Bearer {token}"),)

    return make
