"""Giftcard fixtures: the service in-process on real PostgreSQL and RabbitMQ, its two stubs,
operators by role, and cards arranged in a given state (tests/support/giftcard.py)."""

from __future__ import annotations

import pytest

from loyalty.giftcard.v1 import giftcard_service_pb2_grpc, wallet_service_pb2_grpc
from services.giftcard.app import GiftcardApp
from services.kit.clock import Clock
from tests.support import giftcard as support
from tests.support import harness


@pytest.fixture(scope="session")
async def giftcard_app(identity_app, amqp):
    # Tests run the jobs themselves, with their own clock.
    async with harness.running(
        GiftcardApp, amqp, identity=identity_app, schedule=False, pool_max=12
    ) as app:
        yield app


@pytest.fixture
async def giftcard(giftcard_app):
    """The back office (GiftcardService) on clean tables."""
    await harness.reset(giftcard_app)
    return harness.stub(giftcard_app, giftcard_service_pb2_grpc.GiftcardServiceStub)


@pytest.fixture
def wallet(giftcard, giftcard_app):
    """The holders' and checkout's service (WalletService), on the same clean tables."""
    return harness.stub(giftcard_app, wallet_service_pb2_grpc.WalletServiceStub)


@pytest.fixture
def clock(giftcard, giftcard_app) -> Clock:
    return giftcard_app.deps.clock


@pytest.fixture
def staff(mint):
    """Metadata of an operator (a person: its client id) holding the given giftcard roles:
    `staff("alice", "loader")` → scope giftcard:loader."""

    def make(person: str, *roles: str):
        return mint(person, kind="operator", scopes=[f"giftcard:{r}" for r in roles])

    return make


@pytest.fixture
def checkout(mint):
    """A storefront's service client."""
    return mint("storefront-1", kind="service", scopes=["giftcard:checkout"])


@pytest.fixture
def cards(giftcard, giftcard_app) -> support.Cards:
    """Cards arranged in a state (active with a balance, …) for the tests of what follows."""
    return support.Cards(giftcard_app)


@pytest.fixture
def consumed(giftcard_app, published):
    """Wait until giftcard's consumers applied `count` of the events of a type this test
    published."""
    return harness.consumed_by(giftcard_app, published)
