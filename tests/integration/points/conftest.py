"""Points fixtures: the service in-process on real PostgreSQL and RabbitMQ, members, tokens."""

from __future__ import annotations

import asyncio
import uuid

import grpc
import pytest

from loyalty.points.v1 import points_service_pb2 as pb
from loyalty.points.v1 import points_service_pb2_grpc
from services.kit.clock import Clock
from services.points import ledger as ledger_module
from services.points.app import PointsApp
from services.points.config import PointsSettings
from services.points.store import members as member_store
from services.points.store import reconcile
from tests.support import bus, servers

ALL_SCOPES = ("points:read", "points:grant", "points:spend", "points:adjust", "points:admin")


def points_settings(identity_app, **overrides):
    values = dict(
        database_url=servers.database_url("points"),
        grpc_host="127.0.0.1",
        grpc_port=0,
        ops_port=0,
        # Tokens are verified from identity's published keys, as in production.
        jwks_url=f"http://127.0.0.1:{identity_app.ops_port}/.well-known/jwks.json",
        relay_poll_seconds=0.2,
        pool_max=20,
        **servers.broker_settings(),
    )
    return PointsSettings.load(**{**values, **overrides})


@pytest.fixture(scope="session")
async def points_app(identity_app, amqp):
    settings = points_settings(identity_app)
    await servers.fresh_database(settings.dsn())
    app = PointsApp(settings)
    await app.migrate()
    await app.start(schedule=False)  # tests run the jobs directly, with their own clock
    yield app
    await app.stop()
    await servers.delete_queues(amqp, app)  # a run's quorum queues would otherwise stay
    await servers.drop_database(settings.dsn())


@pytest.fixture(scope="session")
async def points_channel(points_app):
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{points_app.grpc_port}")
    yield channel
    await channel.close()


@pytest.fixture
async def points(points_app, points_channel):
    """The PointsService stub on clean tables (the seeded earning rules stay)."""
    await servers.truncate_all(points_app.pool, keep=("earning_rules",))
    await points_app.pool.execute("DELETE FROM earning_rules WHERE author <> 'migration'")
    points_app.ledger.rules.forget()  # the rules deleted above may be kept in memory
    points_app.deps.clock.set(None)  # real time unless a test sets or advances it
    return points_service_pb2_grpc.PointsServiceStub(points_channel)


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
        await points.Adjust(
            pb.AdjustRequest(
                request_id=str(uuid.uuid4()), member_id=member_id, delta=amount, reason="test"
            ),
            metadata=operator,
        )

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
def published():
    """Ids of the events this test published, by type."""
    return {}


@pytest.fixture
def publish(amqp, published):
    """Publish a storefront or suite event the way its producer would."""
    names = servers.broker_settings()

    async def send(type_: str, subject: str, payload, event_id: str | None = None) -> str:
        commerce = type_.startswith("commerce.")
        exchange = names["commerce_exchange"] if commerce else names["events_exchange"]
        sent = await bus.publish(amqp, exchange, type_, subject, payload, event_id=event_id)
        published.setdefault(type_, set()).add(sent)
        return sent

    return send


@pytest.fixture
def consumed(points_app, published):
    """Wait until the points consumers applied `count` of the events of a type this test
    published (events other tests or services publish meanwhile do not count)."""

    async def wait(type_: str, count: int = 1, timeout: float = 10.0) -> None:
        ids = list(published.get(type_, ()))

        async def enough():
            while (
                await points_app.pool.fetchval(
                    "SELECT count(*) FROM inbox WHERE event_type = $1 AND event_id = ANY($2)",
                    type_,
                    ids,
                )
                < count
            ):
                await asyncio.sleep(0.02)

        await asyncio.wait_for(enough(), timeout)

    return wait


async def assert_reconciled(pool) -> None:
    problems = await reconcile.snapshot(pool)
    assert problems == {}, problems


def uid() -> str:
    return str(uuid.uuid4())


__all__ = ["assert_reconciled", "ledger_module", "uid"]
