"""Growth fixtures: the service in-process on real PostgreSQL and RabbitMQ, its two stubs, an
operator, the service's clock."""

from __future__ import annotations

import pytest

from loyalty.growth.v1 import growth_admin_service_pb2_grpc, growth_service_pb2_grpc
from services.growth.app import GrowthApp
from services.kit.clock import Clock
from tests.support import harness


@pytest.fixture(scope="session")
async def growth_app(identity_app, amqp):
    # Tests run the settlement themselves, with their own clock.
    async with harness.running(GrowthApp, amqp, identity=identity_app, schedule=False) as app:
        yield app


@pytest.fixture
async def growth_db(growth_app):
    """Clean tables with the default rule set, version 1, active."""
    await harness.reset(growth_app)
    await growth_app.usecases.rules.ensure_default(growth_app.pool)
    return growth_app


@pytest.fixture
def growth(growth_db):
    """GrowthService (members and storefronts)."""
    return harness.stub(growth_db, growth_service_pb2_grpc.GrowthServiceStub)


@pytest.fixture
def admin(growth_db):
    """GrowthAdminService (operators)."""
    return harness.stub(growth_db, growth_admin_service_pb2_grpc.GrowthAdminServiceStub)


@pytest.fixture
def clock(growth_db) -> Clock:
    return growth_db.deps.clock


@pytest.fixture
def operator(mint):
    return mint("ops-alice", kind="operator", scopes=["growth:admin"])


@pytest.fixture
def consumed(growth_app, published):
    """Wait until growth's consumers applied `count` of the events of a type this test
    published."""
    return harness.consumed_by(growth_app, published)
