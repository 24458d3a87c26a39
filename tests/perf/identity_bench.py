"""Identity benchmark: token verification, register/login vs raw argon2, relay vs raw publish."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import uuid
from concurrent.futures import ThreadPoolExecutor

import aio_pika
import grpc
from argon2 import PasswordHasher

from loyalty.identity.v1 import events_pb2 as ev
from loyalty.identity.v1 import identity_service_pb2 as pb
from loyalty.identity.v1 import identity_service_pb2_grpc as pb_grpc
from loyalty.identity.v1 import resources_pb2 as res
from services.identity.app import IdentityApp
from services.identity.config import IdentitySettings
from services.kit import auth, db, events, outbox
from tests.perf.common import Clock, summary, write
from tests.perf.setup import migrated_app
from tests.support import bus, identity_fakes, servers

CONCURRENCY = 8
USERS = 120
OUTBOX_EVENTS = 5000


def production_argon2() -> dict:
    defaults = IdentitySettings.model_fields
    return {
        k: defaults[k].default
        for k in ("argon2_time_cost", "argon2_memory_kib", "argon2_parallelism")
    }


def raw_argon2_rate(params: dict, seconds: float = 3.0) -> float:
    """Hashes per second with the same parameters, on as many threads as the service uses."""
    hasher = PasswordHasher(
        time_cost=params["argon2_time_cost"],
        memory_cost=params["argon2_memory_kib"],
        parallelism=params["argon2_parallelism"],
    )
    import time

    done = 0
    deadline = time.perf_counter() + seconds

    def work():
        nonlocal done
        while time.perf_counter() < deadline:
            hasher.hash("s3cret-pass")
            done += 1

    with Clock() as clock, ThreadPoolExecutor(CONCURRENCY) as pool:
        for f in [pool.submit(work) for _ in range(CONCURRENCY)]:
            f.result()
    return done / clock.seconds


async def drive(calls, concurrency: int) -> dict:
    latencies: list[float] = []
    queue = list(calls)
    import time

    async def worker():
        while queue:
            call = queue.pop()
            start = time.perf_counter()
            await call()
            latencies.append(time.perf_counter() - start)

    with Clock() as clock:
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return summary(latencies, clock.seconds)


async def bench_tokens(app: IdentityApp) -> dict:
    token = app.signer.access_token(
        subject=str(uuid.uuid4()), kind="member", ttl=600, now=dt.datetime.now(dt.UTC)
    )
    keys = auth.KeySet(f"http://127.0.0.1:{app.ops_port}/.well-known/jwks.json")
    verifier = auth.Verifier(keys, app.settings.jwt_issuer, app.settings.jwt_audience)
    await verifier.verify(token)  # first call fetches the JWKS over HTTP; then it is cached
    n = 5000
    with Clock() as repeat:
        for _ in range(n):
            await verifier.verify(token)
    # Distinct tokens: every call checks a signature (keys cached, result cache missed).
    fresh = [
        app.signer.access_token(
            subject=str(uuid.uuid4()), kind="member", ttl=600, now=dt.datetime.now(dt.UTC)
        )
        for _ in range(n)
    ]
    with Clock() as first:
        for each in fresh:
            await verifier.verify(each)
    return {
        "verifications": n,
        "ms_signature_check_cached_keys": round(first.seconds / n * 1000, 4),
        "ms_repeat_same_token": round(repeat.seconds / n * 1000, 4),
        "goal_ms": 0.1,
    }


async def bench_register_login(app: IdentityApp, params: dict) -> dict:
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{app.grpc_port}")
    stub = pb_grpc.IdentityServiceStub(channel)
    phones = [f"139{n:08d}" for n in range(USERS)]
    # Each phone number proven with its code, sent before the clock starts.
    codes = {p: await identity_fakes.code_for(stub, app.deps.codes, p) for p in phones}

    def register(phone):
        return lambda: stub.RegisterMember(
            pb.RegisterMemberRequest(
                request_id=str(uuid.uuid4()),
                phone=phone,
                password="s3cret-pass",
                channel=res.REGISTRATION_CHANNEL_APP,
                phone_verification_code=codes[phone],
            )
        )

    def login(phone):
        return lambda: stub.Login(pb.LoginRequest(identifier=phone, password="s3cret-pass"))

    registered = await drive([register(p) for p in phones], CONCURRENCY)
    logged_in = await drive([login(p) for p in phones], CONCURRENCY)
    await channel.close()
    raw = await asyncio.to_thread(raw_argon2_rate, params)
    return {
        "argon2": params,
        "raw_argon2_hashes_per_second": round(raw, 1),
        "register": registered,
        "login": logged_in,
        "register_vs_raw_argon2": round(registered["per_second"] / raw, 3),
        "login_vs_raw_argon2": round(logged_in["per_second"] / raw, 3),
    }


async def bench_relay(app: IdentityApp, amqp) -> dict:
    """Outbox relay throughput against a raw confirm-publish of the same messages."""
    exchange_name = f"bench.{servers.RUN}.relay"
    channel = await amqp.channel()
    (exchange,) = await events.declare_exchanges(channel, exchange_name)
    queue = await channel.declare_queue(f"bench.{servers.RUN}.sink", auto_delete=False)
    await queue.bind(exchange, routing_key="#")

    # Baseline: the same CloudEvents, published with confirms and mandatory, 200 in flight.
    confirm = await amqp.channel(publisher_confirms=True, on_return_raises=True)
    (target,) = await events.declare_exchanges(confirm, exchange_name)
    payload = events.payload_json(ev.MemberVerified(member_id=str(uuid.uuid4())))
    with Clock() as raw_clock:
        for start in range(0, OUTBOX_EVENTS, 200):
            await asyncio.gather(
                *(
                    target.publish(
                        events.to_amqp(
                            event_id=str(uuid.uuid4()),
                            type_="bench.raw",
                            source="/bench",
                            subject="s",
                            data=payload,
                        ),
                        routing_key="bench.raw",
                        mandatory=True,
                    )
                    for _ in range(start, min(start + 200, OUTBOX_EVENTS))
                )
            )
    raw_rate = OUTBOX_EVENTS / raw_clock.seconds

    writer = outbox.Outbox("bench")
    async with db.transaction(app.pool) as conn:
        for _ in range(OUTBOX_EVENTS):
            await writer.add(conn, "s", ev.MemberVerified(member_id="m"))
    relay = outbox.Relay(app.pool, amqp, exchange_name, batch=200, poll_seconds=0.05)
    with Clock() as relay_clock:
        await relay.start()
        while await app.pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL"):
            await asyncio.sleep(0.02)
    await relay.stop()
    relay_rate = OUTBOX_EVENTS / relay_clock.seconds
    await queue.delete(if_unused=False, if_empty=False)
    await channel.close()
    await confirm.close()
    return {
        "events": OUTBOX_EVENTS,
        "raw_confirm_publish_per_second": round(raw_rate, 1),
        "relay_per_second": round(relay_rate, 1),
        "relay_vs_raw": round(relay_rate / raw_rate, 3),
        "goal_ratio": 0.5,
    }


_NO_SOURCE_LIMITS = dict(
    registrations_per_source_hour=0,
    registrations_per_identifier_hour=0,
    login_failures_per_source_hour=0,
    codes_per_source_hour=0,
)


async def main() -> None:
    params = production_argon2()
    # One benchmark client registers and signs in many members from one address: the limits
    # meant for strangers would measure the limiter, not the hashing.
    async with contextlib.AsyncExitStack() as stack:
        app = await migrated_app(
            stack, IdentityApp, **params, relay_poll_seconds=1.0, **_NO_SOURCE_LIMITS
        )
        # The relay under test is started by hand below, on its own exchange.
        await app.start(relay=False)
        app.deps.codes = identity_fakes.codes  # codes handed to the benchmark, not written to files
        amqp = await aio_pika.connect_robust(servers.AMQP_URL)
        stack.push_async_callback(amqp.close)
        stack.push_async_callback(app.stop)  # before the connection closes
        tap = bus.Tap()
        await tap.start(amqp, app.settings.events_exchange)  # identity's own events stay routable
        results = {
            "token_verification": await bench_tokens(app),
            "register_login": await bench_register_login(app, params),
            "outbox_relay": await bench_relay(app, amqp),
        }
    write("identity", results)


if __name__ == "__main__":
    asyncio.run(main())
