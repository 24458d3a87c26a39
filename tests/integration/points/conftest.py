"""Points fixtures: the service in-process on real PostgreSQL and RabbitMQ, members, tokens."""

from __future__ import annotations

import uuid

import pytest

from loyalty.points.v1 import points_service_pb2 as pb
from loyalty.points.v1 import points_service_pb2_grpc
from services.kit.clock import Clock
from services.points.app import PointsApp
from services.points.store import members as member_store
from tests.support import harness
from tests.support.points import adjust_request

ALL_SCOPES = ("points:read", "points:grant", "points:spend", "points:adjust", "points:admin")


@pytest.fixture(scope="session")
async def points_app(identity_app, amqp):
    # Tests run the jobs directly, with their own clock; 100 concurrent calls need the pool.
    async with harness.running(
        PointsApp, amqp, identity=identity_app, schedule=False, pool_max=20
    ) as app:
        yield app


@pytest.fixture
async def points(points_app):
    """The PointsService stub on clean tables (the seeded earning rules stay)."""
    await harness.reset(points_app, keep=("earning_rules",))
    await points_app.pool.execute("DELETE FROM earning_rules WHERE author <> 'migration'")
    points_app.usecases.rules.forget()  # the rules deleted above may be kept in memory
    return harness.stub(points_app, points_service_pb2_grpc.PointsServiceStub)


@pytest.fixture
def clock(points, points_app) -> Clock:
    return points_app.deps.clock


@pytest.fixture
def operator(mint):
    """Metadata of an operator holding every points scope."""
    return mint("ops-console", kind="operator", scopes=ALL_SCOPES)


@pytest.fixture
def new_member(points, points_app):
    """Create a member as member.registered would (without the sign-up bonus)."""

    async def create(status: str = "active", referred_by: uuid.UUID | None = None) -> str:
        member_id = uuid.uuid4()
        async with points_app.pool.acquire() as conn:
            await member_store.ensure(conn, member_id)
            await member_store.update(
                conn,
                member_id,
                registered=True,
                sign_up_bonus_paid=True,
                status=status,
                referred_by=referred_by,
            )
        return str(member_id)

    return create


@pytest.fixture
def fund(points, operator):
    """Credit a member through an operator adjustment."""

    async def credit(member_id: str, amount: int) -> None:
        await points.Adjust(adjust_request(member_id, amount, "test"), metadata=operator)

    return credit


@pytest.fixture
def balance(points, operator):
    async def get(member_id: str):
        response = await points.GetBalance(
            pb.GetBalanceRequest(member_id=member_id), metadata=operator
        )
        return response.balance

    return get


@pytest.fixture
def consumed(points_app, published):
    """Wait until the points consumers applied `count` of the events of a type this test
    published (events other tests or services publish meanwhile do not count)."""
    return harness.consumed_by(points_app, published)
