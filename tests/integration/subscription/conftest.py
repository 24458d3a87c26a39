"""Subscription fixtures: the service in-process on real PostgreSQL and RabbitMQ, its two
stubs, an operator, a storefront's checkout client, the service's clock."""

from __future__ import annotations

import pytest

from loyalty.subscription.v1 import (
    subscription_admin_service_pb2_grpc,
    subscription_service_pb2_grpc,
)
from services.kit.clock import Clock
from services.subscription.app import SubscriptionApp
from tests.support import harness


@pytest.fixture(scope="session")
async def subscription_app(identity_app, amqp):
    # Tests run the jobs themselves, with their own clock.
    async with harness.running(SubscriptionApp, amqp, identity=identity_app, schedule=False) as app:
        yield app


@pytest.fixture
async def subscription(subscription_app):
    """SubscriptionService (members and storefronts) on clean tables."""
    await harness.reset(subscription_app)
    return harness.stub(subscription_app, subscription_service_pb2_grpc.SubscriptionServiceStub)


@pytest.fixture
def admin(subscription, subscription_app):
    """SubscriptionAdminService (operators), on the same clean tables."""
    return harness.stub(
        subscription_app, subscription_admin_service_pb2_grpc.SubscriptionAdminServiceStub
    )


@pytest.fixture
def clock(subscription, subscription_app) -> Clock:
    return subscription_app.deps.clock


@pytest.fixture
def operator(mint):
    return mint("ops-alice", kind="operator", scopes=["subscription:admin"])


@pytest.fixture
def checkout(mint):
    """A storefront's service client."""
    return mint("storefront-1", kind="service", scopes=["subscription:checkout"])


@pytest.fixture
def consumed(subscription_app, published):
    """Wait until subscription's consumers applied `count` of the events of a type this test
    published."""
    return harness.consumed_by(subscription_app, published)
