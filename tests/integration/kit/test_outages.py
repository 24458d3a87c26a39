"""An outage is not poison: while the database is away an event is delayed, never dead-lettered,
and a call is UNAVAILABLE with RetryInfo, never INTERNAL; identity's keys out of reach make a
token check UNAVAILABLE, not UNAUTHENTICATED. Each recovers by itself.

The outage is made by a TCP proxy between the service and PostgreSQL (or identity) that drops
every connection and refuses new ones for a while: what the service sees when the server
restarts, at the cost of a few seconds rather than a server of the test's own."""

from __future__ import annotations

import asyncio
import uuid

import grpc
import pytest
from prometheus_client import REGISTRY

from loyalty.identity.v1 import identity_service_pb2 as pb
from loyalty.identity.v1 import identity_service_pb2_grpc as pb_grpc
from services.identity.app import IdentityApp
from services.kit import auth, db, errors, inbox, publishers
from services.points.app import PointsApp
from tests.support import bus, harness, servers, tcp_proxy
from tests.support.grpc_errors import assert_error
from tests.support.waiting import wait_until

BROKER = servers.broker_settings()
GUEST = publishers.broker_user(servers.AMQP_URL)  # the user these tests publish as
OUTAGE_SECONDS = 4.0


def _metric(name: str, consumer: str) -> float:
    return REGISTRY.get_sample_value(name, {"consumer": consumer}) or 0.0


async def test_a_database_outage_delays_events_and_dead_letters_none(kit_db, kit_dsn, amqp):
    tag = uuid.uuid4().hex[:8]
    name = f"{BROKER['queue_prefix']}kit.outage.{tag}"
    type_ = f"commerce.kit{tag}.order.paid.v1"

    async def record(conn, envelope) -> None:
        await conn.execute(
            "INSERT INTO kit_test_effects (kind, key) VALUES ('outage', $1)", envelope.id
        )

    async with tcp_proxy.TcpProxy.to_postgres() as proxy:
        pool = await db.create_pool(proxy.dsn(kit_dsn), min_size=1, max_size=4)
        consumer = inbox.Consumer(
            name=name,
            pool=pool,
            connection=amqp,
            bindings=[inbox.Binding(BROKER["commerce_exchange"], type_)],
            handlers={type_: record},
            dead_letter_exchange=BROKER["dead_letter_exchange"],
            publishers=publishers.Publishers.parse(f"*={GUEST}"),
            own_user=GUEST,
            prefetch=8,
            # One return would dead-letter: a failure counted for the outage would show.
            delivery_limit=1,
        )
        await consumer.start()
        try:
            await proxy.cut(refuse_seconds=OUTAGE_SECONDS)
            sent = [
                await bus.publish(amqp, BROKER["commerce_exchange"], type_, f"o-{n}", {})
                for n in range(12)
            ]

            async def applied() -> bool:
                rows = await kit_db.fetch(
                    "SELECT key FROM kit_test_effects WHERE kind = 'outage' AND key = ANY($1)",
                    sent,
                )
                return len(rows) == len(sent)

            await wait_until(applied, OUTAGE_SECONDS + 30, "every event after the outage")
            assert _metric("events_delayed_total", name) > 0  # the outage was felt
            assert _metric("events_dead_lettered_total", name) == 0
            assert _metric("events_failed_total", name) == 0
            rows = await kit_db.fetch(
                "SELECT key, count(*) AS n FROM kit_test_effects WHERE kind = 'outage' GROUP BY key"
            )
            assert sorted(r["key"] for r in rows) == sorted(sent)
            assert {r["n"] for r in rows} == {1}  # each applied once
        finally:
            await consumer.stop()
            await pool.close()
            channel = await amqp.channel()
            dlq = await channel.declare_queue(f"{name}.dlq", passive=True)
            left = dlq.declaration_result.message_count
            for queue in (name, f"{name}.dlq"):
                await channel.queue_delete(queue, if_unused=False, if_empty=False)
            await channel.close()
    assert left == 0


@pytest.fixture
async def identity_behind_proxy(identity_app):
    """A second identity process on the same database, reaching it through a proxy."""
    async with tcp_proxy.TcpProxy.to_postgres() as proxy:
        settings = identity_app.settings.model_copy(
            update={"database_url": proxy.dsn(identity_app.settings.dsn()), "pool_min": 1}
        )
        app = IdentityApp(settings)
        await app.start(relay=False, consume=False, schedule=False)
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{app.grpc_port}")
        try:
            yield proxy, pb_grpc.IdentityServiceStub(channel)
        finally:
            await channel.close()
            await app.stop()


async def test_a_call_while_the_database_is_away_is_unavailable_with_retry_info(
    identity_behind_proxy, mint
):
    proxy, stub = identity_behind_proxy
    operator = mint("ops", kind="operator", scopes=["identity:read"])
    request = pb.GetMemberRequest(member_id=str(uuid.uuid4()))
    with pytest.raises(grpc.aio.AioRpcError) as found:
        await stub.GetMember(request, metadata=operator, timeout=5)
    assert found.value.code() == grpc.StatusCode.NOT_FOUND  # served before the outage

    await proxy.cut(refuse_seconds=OUTAGE_SECONDS)
    with pytest.raises(grpc.aio.AioRpcError) as away:
        await stub.GetMember(request, metadata=operator, timeout=10)
    failure = assert_error(away, grpc.StatusCode.UNAVAILABLE, "DATABASE_UNAVAILABLE")
    assert failure.retry_seconds == 1

    async def served_again() -> bool:
        try:
            await stub.GetMember(request, metadata=operator, timeout=5)
        except grpc.aio.AioRpcError as exc:
            return exc.code() == grpc.StatusCode.NOT_FOUND
        return True

    await wait_until(served_again, OUTAGE_SECONDS + 20, "the service to recover by itself")


async def test_keys_out_of_reach_are_unavailable_until_identity_is_back(identity_app, mint):
    target = ("127.0.0.1", identity_app.ops_port)
    async with tcp_proxy.TcpProxy(*target) as proxy:
        keys = auth.KeySet(f"http://127.0.0.1:{proxy.port}/.well-known/jwks.json", min_refresh=0.5)
        verifier = auth.Verifier(keys, identity_app.settings.jwt_issuer, "loyalty")
        token = dict(mint("m-1"))["authorization"].removeprefix("Bearer ")
        await proxy.cut(refuse_seconds=2.0)
        with pytest.raises(errors.AppError) as away:
            await verifier.verify(token)
        failure = assert_error(away, grpc.StatusCode.UNAVAILABLE, "KEYS_UNAVAILABLE")
        assert failure.retry_seconds

        async def verified() -> bool:
            try:
                return (await verifier.verify(token)).subject == "m-1"
            except errors.AppError as exc:
                assert exc.code == grpc.StatusCode.UNAVAILABLE
                return False

        await wait_until(verified, 15, "the keys once identity is reachable")


async def test_sigterm_stops_within_the_grace_period_while_the_broker_is_away(identity_app, amqp):
    """Kubernetes kills a pod 30 s after SIGTERM: stopping must not wait for a broker that is
    gone (consumers cancelling, the relay's batch, the connection closing)."""
    grace = 1.0
    async with tcp_proxy.TcpProxy.to_broker() as proxy:
        settings = harness.settings(
            PointsApp,
            identity=identity_app,
            database_url=servers.database_url("points_stopping"),
            amqp_url=proxy.amqp_url(servers.publisher_urls()["points"], reconnect_interval=0.2),
            shutdown_grace_seconds=grace,
        )
        app = PointsApp(settings)
        await servers.fresh_database(settings.dsn())
        await app.migrate()
        await app.start(schedule=False)
        try:
            await proxy.cut(refuse_seconds=120)  # the broker is away for longer than the test
            await asyncio.sleep(0.5)
            # Within the grace, plus the kit's few seconds to close, plus slack for this machine.
            await asyncio.wait_for(app.stop(), grace + PointsApp.CLOSE_SECONDS + 5)
        finally:
            await servers.delete_queues(amqp, app)
            await servers.drop_database(settings.dsn())
