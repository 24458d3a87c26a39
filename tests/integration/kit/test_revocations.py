"""The kit's deny list of access tokens (kit.revocations): every replica of a service refuses a
revoked token within seconds, a new replica at once; the copy in memory survives a lost
listener; a subject's instant only moves forward; revoking events that break their contract are
refused; the verifier asks on every call, tokens it remembers included."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
import uuid

import grpc
import pytest

from loyalty.identity.v1 import events_pb2 as ev
from loyalty.points.v1 import points_service_pb2 as ppb
from loyalty.points.v1 import points_service_pb2_grpc
from services.kit import auth, errors, events, revocations, timestamps
from services.kit.service import ServiceApp
from services.points.app import PointsApp
from tests.support import grpc_errors, harness, servers
from tests.support.waiting import wait_until

REGISTERED = "loyalty.identity.member.registered.v1"
FROZEN = "loyalty.identity.member.frozen.v1"
WITHIN = 3.0  # seconds: what "refused in seconds" means here (it takes milliseconds)


@contextlib.asynccontextmanager
async def replica(app_class: type[ServiceApp], settings):
    """One more process of a service already running on the same database and queues."""
    app = app_class(settings)
    await app.start(schedule=False)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{app.grpc_port}")
    try:
        yield points_service_pb2_grpc.PointsServiceStub(channel)
    finally:
        await channel.close()
        await app.stop()


async def outcome(stub, member_id: str, metadata) -> str:
    """'OK', or the reason GetBalance with `metadata` (a token) was refused."""
    try:
        await stub.GetBalance(ppb.GetBalanceRequest(member_id=member_id), metadata=metadata)
    except grpc.aio.AioRpcError as exc:
        return grpc_errors.failure_of(exc).reason
    return "OK"


async def test_every_replica_refuses_a_revoked_token_within_seconds_and_a_new_one_at_once(
    identity_app, amqp, mint, publish
):
    # The replicas share their database, and so their queues (harness.settings), no one else.
    url = servers.database_url("points_replicas")
    async with harness.running(
        PointsApp, amqp, identity=identity_app, schedule=False, database_url=url
    ) as first:
        settings = harness.settings(PointsApp, identity=identity_app, database_url=url)
        async with replica(PointsApp, settings) as second:
            replicas = [harness.stub(first, points_service_pb2_grpc.PointsServiceStub), second]
            member_id = str(uuid.uuid4())
            await publish(REGISTERED, member_id, ev.MemberRegistered(member_id=member_id))
            token = mint(member_id)

            async def all_say(reason: str) -> bool:
                found = await asyncio.gather(*(outcome(s, member_id, token) for s in replicas))
                return all(r == reason for r in found)

            await wait_until(lambda: all_say("OK"), 10, "both replicas to know the member")
            # Identity freezes the member (its event, as its relay publishes it).
            frozen = ev.MemberFrozen(
                member_id=member_id,
                reason="risk",
                frozen_time=timestamps.to_proto(timestamps.now()),
            )
            await publish(FROZEN, member_id, frozen)
            started = time.monotonic()

            async def refused_by(stub) -> float:
                async def refused() -> bool:
                    return await outcome(stub, member_id, token) == "TOKEN_REVOKED"

                await wait_until(refused, WITHIN, "a replica to refuse", interval=0.005)
                return time.monotonic() - started

            # One replica consumed the event (they share the queue); the other learnt of it
            # from the table.
            await asyncio.gather(*(refused_by(stub) for stub in replicas))
            # A replica started now knows it before its first call.
            async with replica(PointsApp, settings) as third:
                assert await outcome(third, member_id, token) == "TOKEN_REVOKED"


@pytest.fixture
async def deny_list(kit_db, kit_dsn):
    """A deny list on the kit's database, checking its listener every 0.1 s."""
    made = revocations.Revocations(retention_seconds=3600, check_seconds=0.1)
    await made.start(kit_dsn)
    yield made
    await made.stop()


def member(subject: uuid.UUID) -> auth.Principal:
    return auth.Principal(subject=str(subject), kind="member")


async def record(pool, subject: uuid.UUID, before: dt.datetime, kind: str = "member") -> None:
    async with pool.acquire() as conn:
        await revocations.Revocations(retention_seconds=3600).record(
            conn, kind, str(subject), before
        )


async def test_the_copy_in_memory_follows_the_table_and_only_moves_forward(deny_list, kit_db):
    someone = uuid.uuid4()
    revoked = timestamps.now()
    now = revoked.timestamp()  # the instant as stored: to the microsecond
    await record(kit_db, someone, revoked)
    await wait_until(
        lambda: _true(deny_list.refuses(member(someone), now - 1)), 2, "the notification"
    )
    assert deny_list.refuses(member(someone), now)  # issued at the instant: void
    assert not deny_list.refuses(member(someone), now + 1)  # issued after: fine
    # Clients and members are revoked apart, even under one id.
    assert not deny_list.refuses(auth.Principal(str(someone), "service"), now - 1)
    # An older revocation arriving late moves nothing back; a later one moves it forward.
    await record(kit_db, someone, revoked - dt.timedelta(minutes=5))
    await record(kit_db, someone, revoked + dt.timedelta(seconds=10))
    await wait_until(
        lambda: _true(deny_list.refuses(member(someone), now + 9)), 2, "the later revocation"
    )
    stored = await kit_db.fetchval("SELECT revoked_before FROM revocations")
    assert stored == revoked + dt.timedelta(seconds=10)
    # Emptying the table empties every copy.
    await kit_db.execute("TRUNCATE revocations")
    await wait_until(
        lambda: _true(not deny_list.refuses(member(someone), now - 1)), 2, "the copy to empty"
    )


async def test_a_lost_listener_reconnects_and_reads_what_it_missed(deny_list, kit_db):
    listener = deny_list._listener
    assert listener is not None
    await kit_db.execute(
        "SELECT pg_terminate_backend($1)", listener.get_server_pid()
    )  # what a failover or a restarted server does
    missed = uuid.uuid4()
    await record(kit_db, missed, timestamps.now())
    await wait_until(
        lambda: _true(deny_list.refuses(member(missed), time.time() - 1)),
        3,
        "the deny list to catch up after reconnecting",
    )


async def test_the_prune_job_forgets_revocations_whose_tokens_have_all_expired(deny_list, kit_db):
    gone, kept = uuid.uuid4(), uuid.uuid4()
    await record(kit_db, gone, timestamps.now() - dt.timedelta(hours=2))  # kept for 1 h
    await record(kit_db, kept, timestamps.now())
    await deny_list.job().run(kit_db)
    assert await kit_db.fetchval("SELECT array_agg(subject) FROM revocations") == [str(kept)]


@pytest.mark.parametrize(
    ("message", "field"),
    [
        (ev.MemberFrozen(member_id="not-a-member"), "member_id"),
        (ev.MemberClosed(member_id=""), "member_id"),
        (ev.ClientDisabled(client_id="a client with spaces"), "client_id"),
        (ev.ClientDisabled(client_id=""), "client_id"),
    ],
)
async def test_a_revoking_event_that_breaks_its_contract_is_malformed(kit_db, message, field):
    handler = revocations.Revocations().subscription("kit").by_type()[events.type_of(message)]
    envelope = events.Envelope(
        id=str(uuid.uuid4()),
        type=events.type_of(message),
        source="/loyalty/identity",
        subject="x",
        time=None,
        data=events.payload_json(message),
    )
    async with kit_db.acquire() as conn:
        with pytest.raises(errors.Malformed) as err:
            await handler(conn, envelope)
    assert err.value.violations[0][0] == field
    assert await kit_db.fetchval("SELECT count(*) FROM revocations") == 0


class _Denied:
    """A deny list of one subject, up to one instant."""

    def __init__(self) -> None:
        self.until: float | None = None

    def refuses(self, principal: auth.Principal, issued_at: float) -> bool:
        return self.until is not None and issued_at <= self.until


async def test_the_verifier_asks_the_deny_list_even_for_a_token_it_remembers(identity_app):
    keys = auth.KeySet()
    keys.load(identity_app.signer.jwks())
    denied = _Denied()
    s = identity_app.settings
    verifier = auth.Verifier(keys, s.jwt_issuer, s.jwt_audience, revoked=denied)

    def token(issued: dt.datetime) -> str:
        return identity_app.signer.access_token(subject="m", kind="member", ttl=60, now=issued)

    revoked_at = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=10)
    before, at = token(revoked_at - dt.timedelta(milliseconds=1)), token(revoked_at)
    for remembered in (before, at):
        assert (await verifier.verify(remembered)).subject == "m"  # verified and remembered
    denied.until = revoked_at.timestamp()
    for remembered in (before, at):
        with pytest.raises(errors.AppError) as err:
            await verifier.verify(remembered)
        grpc_errors.assert_error(err, grpc.StatusCode.UNAUTHENTICATED, "TOKEN_REVOKED")
    # Identity stamps `iat` to the microsecond: a token issued a moment after works.
    after = token(revoked_at + dt.timedelta(milliseconds=1))
    assert (await verifier.verify(after)).subject == "m"


async def _true(value: bool) -> bool:
    return value
