"""Subscription benefit claims benchmark: ClaimBenefit over gRPC next to pgbench on the same
server. `perk_hot`: every client claims a partner perk from one pool (the contention a popular
perk brings: each claim takes a code and counts it on the pool's row); `coupon`: the same
clients claim a coupon pack (no inventory: only the member's own row is locked), the figure to
read the pool's cost against.

As in points_bench: the service runs as separate replica processes (production settings: the
default relay poll, pool of 20), the load generator is this one Python process, a no-op RPC
measures what the load generator and gRPC cost, and every phase says where the machine's CPU
went. Members and their subscriptions are made the way storefronts make them (an order paid at
the cashier), the pool is filled with UploadPerkCodes. Each client claims for members of its
own (a member's claims run one at a time by design), so the only shared row is the pool's.
Settings: BENCH_SECONDS (10), BENCH_REPLICAS (2), BENCH_PHASES (all; comma-separated names of
PHASES, others ignored).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import sys
import uuid

import aio_pika
import aiohttp
import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from loyalty.subscription.v1 import resources_pb2 as res
from loyalty.subscription.v1 import subscription_admin_service_pb2 as admin_pb
from loyalty.subscription.v1 import subscription_admin_service_pb2_grpc as admin_grpc
from loyalty.subscription.v1 import subscription_service_pb2 as pb
from loyalty.subscription.v1 import subscription_service_pb2_grpc as pb_grpc
from loyalty.type.v1 import money_pb2
from services.identity.app import IdentityApp
from services.kit import db, events
from services.subscription.app import SubscriptionApp
from tests.perf import points_bench
from tests.perf.common import CpuMeter, pids_named, write
from tests.perf.giftcard_bench import cpu_per_call, stop_replica
from tests.perf.points_bench import (
    HOT_CLIENTS,
    REPLICAS,
    SECONDS,
    RoundRobin,
    closed_loop,
    free_port,
    pgbench_simple_update,
)
from tests.support import harness, servers

PLAN = "bench_monthly"
PERK, COUPON = "bench_perk", "bench_coupon"
PER_MONTH = 1000  # the most a benefit allows: a member is never out of quota in a phase
MEMBERS_PER_CLIENT = 8
CODES = 100_000  # more than a phase hands out on any machine this runs on
UPLOAD = 10_000  # UploadPerkCodes takes at most this many
SCOPES = {"operator": ["subscription:admin"], "service": ["subscription:checkout"]}


async def start_replica(settings, index: int):
    """`python -m services.subscription serve` with the bench's settings; waits for /readyz."""
    grpc_port, ops_port = free_port(), free_port()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(sys.path),
        "SUBSCRIPTION_DATABASE_URL": settings.dsn(),
        "SUBSCRIPTION_GRPC_PORT": str(grpc_port),
        "SUBSCRIPTION_OPS_PORT": str(ops_port),
        "SUBSCRIPTION_POOL_MAX": "20",
        "SUBSCRIPTION_CODE_KEY": settings.code_key.get_secret_value(),
        "SUBSCRIPTION_CODE_KEY_ID": settings.code_key_id,
        "LOYALTY_LOG_LEVEL": "WARNING",
        "LOYALTY_AMQP_URL": settings.amqp_url.get_secret_value(),  # as the run's user
        "LOYALTY_EVENT_PUBLISHERS": settings.event_publishers,
        "LOYALTY_JWKS_URL": settings.jwks_url,
        "LOYALTY_EVENTS_EXCHANGE": settings.events_exchange,
        "LOYALTY_COMMERCE_EXCHANGE": settings.commerce_exchange,
        "LOYALTY_DEAD_LETTER_EXCHANGE": settings.dead_letter_exchange,
        "LOYALTY_UNROUTED_EXCHANGE": settings.unrouted_exchange,
        "LOYALTY_QUEUE_PREFIX": settings.queue_prefix,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.subscription",
        "serve",
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
    )
    async with aiohttp.ClientSession() as session:
        for _ in range(300):
            if process.returncode is not None:
                break  # it stopped (a setting it refuses): no point waiting
            try:
                async with session.get(f"http://127.0.0.1:{ops_port}/readyz") as response:
                    if response.status == 200:
                        return process, grpc_port
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    await stop_replica(process)
    raise RuntimeError(f"subscription replica {index} did not become ready")


def _cny(minor: int) -> money_pb2.Money:
    return money_pb2.Money(currency_code="CNY", amount_minor=minor)


class Bench:
    """Identity (for tokens), a fresh subscription database, the replicas, stubs, one pool of
    partner codes, a plan with a partner perk and a coupon pack, the members and the calls."""

    async def __aenter__(self) -> Bench:
        self._stack = contextlib.AsyncExitStack()
        await self._stack.__aenter__()
        try:
            await self._start()
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def __aexit__(self, *exc) -> None:
        await self._stack.aclose()

    async def _start(self) -> None:
        push = self._stack.push_async_callback
        identity = IdentityApp(harness.settings(IdentityApp))
        await servers.fresh_database(identity.settings.dsn())
        push(servers.drop_database, identity.settings.dsn())
        await identity.migrate()
        await identity.start(relay=False, consume=False, schedule=False)
        push(identity.stop)
        self.identity = identity
        self.settings = settings = harness.settings(SubscriptionApp, identity=identity)
        await servers.fresh_database(settings.dsn())
        push(servers.drop_database, settings.dsn())
        app = SubscriptionApp(settings)
        await app.migrate()
        self.pool = await db.create_pool(settings.dsn(), 1, 4)
        push(self.pool.close)
        amqp = await aio_pika.connect_robust(servers.AMQP_URL)
        push(amqp.close)
        push(servers.delete_queues, amqp, app)
        # Events must be routable for the relay: a queue of ours takes them and is deleted after.
        channel = await amqp.channel()
        (exchange,) = await events.declare_exchanges(
            channel, settings.events_exchange, unrouted=settings.unrouted_exchange
        )
        sink = await channel.declare_queue(f"bench.{servers.RUN}.subscription", auto_delete=False)
        push(sink.delete, if_unused=False, if_empty=False)
        await sink.bind(exchange, routing_key="#")
        self.replicas = []
        for index in range(REPLICAS):
            process, port = await start_replica(settings, index)
            push(stop_replica, process)
            self.replicas.append((process, port))
        channels = []
        for _, port in self.replicas:
            channel_ = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
            push(channel_.close)
            channels.append(channel_)
        self.stub = RoundRobin([pb_grpc.SubscriptionServiceStub(c) for c in channels])
        self.admin = RoundRobin([admin_grpc.SubscriptionAdminServiceStub(c) for c in channels])
        self.health = RoundRobin([health_pb2_grpc.HealthStub(c) for c in channels])
        self.operator = self.token("bench-operator", "operator")
        self.checkout = self.token("bench-storefront", "service")
        self.members: list[str] = []
        self.arranged: dict | None = None

    def token(self, subject: str, kind: str) -> tuple:
        token = self.identity.signer.access_token(
            subject=subject,
            kind=kind,
            ttl=3600,
            now=dt.datetime.now(dt.UTC),
            scopes=SCOPES.get(kind, []),
        )
        return (("authorization", f"Bearer {token}"),)

    def meter(self) -> CpuMeter:
        replicas = [process.pid for process, _ in self.replicas]
        return CpuMeter(
            {
                "load_generator": lambda: [os.getpid()],
                "replicas": lambda: replicas,
                "postgres": self._postgres_pids,
                "broker": lambda: pids_named("beam.smp"),
            }
        )

    def _postgres_pids(self) -> list[int]:
        return points_bench.Bench._postgres_pids(self)  # type: ignore[arg-type]

    # --- arranging, through the RPCs --------------------------------------------------------
    async def arrange(self) -> dict:
        """The pool (filled), the plan, a subscription per member (once per run)."""
        if self.arranged is not None:
            return self.arranged
        started = asyncio.get_running_loop().time()
        made = await self.admin.CreatePerkPool(
            admin_pb.CreatePerkPoolRequest(
                request_id=str(uuid.uuid4()), display_name="Bench VIP", partner="bench"
            ),
            metadata=self.operator,
        )
        self.pool_id = made.pool.perk_pool_id
        for start in range(0, CODES, UPLOAD):
            await self.admin.UploadPerkCodes(
                admin_pb.UploadPerkCodesRequest(
                    request_id=str(uuid.uuid4()),
                    perk_pool_id=self.pool_id,
                    codes=[
                        f"BENCH-{i:07d}-{uuid.uuid4().hex[:12]}"
                        for i in range(start, start + UPLOAD)
                    ],
                ),
                metadata=self.operator,
            )
        uploaded = asyncio.get_running_loop().time()
        await self.admin.CreatePlan(
            admin_pb.CreatePlanRequest(
                request_id=str(uuid.uuid4()),
                plan=res.Plan(
                    plan_id=PLAN,
                    display_name="Bench monthly",
                    kind=res.PLAN_KIND_MONTHLY,
                    price=_cny(15_00),
                    on_sale=True,
                    benefits=[
                        res.Benefit(
                            benefit_id=PERK,
                            kind=res.BENEFIT_KIND_PARTNER_PERK,
                            display_name="Bench VIP",
                            quantity=PER_MONTH,
                            value=_cny(1_00),
                            perk_pool_id=self.pool_id,
                        ),
                        res.Benefit(
                            benefit_id=COUPON,
                            kind=res.BENEFIT_KIND_COUPON_PACK,
                            display_name="Bench coupon",
                            quantity=PER_MONTH,
                            value=_cny(1_00),
                            coupon_template_id="bench-coupon",
                        ),
                    ],
                ),
            ),
            metadata=self.operator,
        )
        self.members = [str(uuid.uuid4()) for _ in range(HOT_CLIENTS * MEMBERS_PER_CLIENT)]
        for i in range(0, len(self.members), 32):
            await asyncio.gather(*(self._subscribe(m) for m in self.members[i : i + 32]))
        now = asyncio.get_running_loop().time()
        self.arranged = {
            "codes": CODES,
            "upload_seconds": round(uploaded - started, 3),
            "codes_uploaded_per_second": round(CODES / (uploaded - started), 1),
            "members": len(self.members),
            "subscribe_seconds": round(now - uploaded, 3),
        }
        return self.arranged

    async def _subscribe(self, member: str) -> None:
        order = await self.stub.CreateSubscriptionOrder(
            pb.CreateSubscriptionOrderRequest(
                request_id=str(uuid.uuid4()),
                member_id=member,
                plan_id=PLAN,
                collection=res.PAYMENT_COLLECTION_STOREFRONT,
            ),
            metadata=self.checkout,
        )
        await self.stub.ConfirmPayment(
            pb.ConfirmPaymentRequest(
                request_id=str(uuid.uuid4()),
                order_id=order.order.order_id,
                payment_id=f"bench-{member}",
                amount=_cny(15_00),
            ),
            metadata=self.checkout,
        )

    # --- the calls ------------------------------------------------------------------------
    async def noop(self, n: int, i: int):
        await self.health.Check(health_pb2.HealthCheckRequest(), metadata=self.checkout)

    def _member(self, n: int, i: int) -> str:
        # Client n takes turns on members of its own: no two clients on one member at a time.
        return self.members[n * MEMBERS_PER_CLIENT + i % MEMBERS_PER_CLIENT]

    async def _claim(self, benefit_id: str, n: int, i: int) -> None:
        await self.stub.ClaimBenefit(
            pb.ClaimBenefitRequest(
                request_id=str(uuid.uuid4()), member_id=self._member(n, i), benefit_id=benefit_id
            ),
            metadata=self.checkout,
        )

    async def claim_perk(self, n: int, i: int):
        await self._claim(PERK, n, i)

    async def claim_coupon(self, n: int, i: int):
        await self._claim(COUPON, n, i)


# --- phases: each adds its figures to `results` --------------------------------------------
async def pgbench(bench: Bench, results: dict) -> None:
    results["pgbench_simple_update"] = await asyncio.to_thread(pgbench_simple_update, int(SECONDS))


async def noop(bench: Bench, results: dict) -> None:
    results["noop_max"] = {
        **await closed_loop(bench.noop, HOT_CLIENTS, SECONDS, bench.meter()),
        "clients": HOT_CLIENTS,
        "what": "grpc health Check through the same channels, metadata and interceptor",
    }


async def perk_hot(bench: Bench, results: dict) -> None:
    results["arrange"] = await bench.arrange()
    run = await closed_loop(bench.claim_perk, HOT_CLIENTS, SECONDS, bench.meter())
    results[f"perk_hot_{HOT_CLIENTS}_clients"] = {
        **run,
        **cpu_per_call(run),
        "clients": HOT_CLIENTS,
        "pools": 1,
        "counts": "ClaimBenefit of a partner perk: a code taken, counted on the one pool's row",
    }


async def coupon(bench: Bench, results: dict) -> None:
    results["arrange"] = await bench.arrange()
    run = await closed_loop(bench.claim_coupon, HOT_CLIENTS, SECONDS, bench.meter())
    results[f"coupon_{HOT_CLIENTS}_clients"] = {
        **run,
        **cpu_per_call(run),
        "clients": HOT_CLIENTS,
        "counts": "ClaimBenefit of a coupon pack: no inventory, the member's row only",
    }


PHASES = {"pgbench": pgbench, "noop": noop, "perk_hot": perk_hot, "coupon": coupon}


async def handed_out(bench: Bench) -> dict:
    """What the database says after the phases: every code taken once, the counts exact."""
    async with bench.pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT count(*) FILTER (WHERE state = 'claimed') AS claimed,"
            " count(DISTINCT claim_id) AS distinct_claims,"
            " (SELECT claimed_count FROM perk_pools) AS pool_claimed,"
            " (SELECT count(*) FROM benefit_claims WHERE kind = 'partner_perk') AS perk_claims"
            " FROM perk_codes"
        )
    return {
        "codes_claimed": row["claimed"],
        "codes_handed_twice": row["claimed"] - row["distinct_claims"],
        "pool_counter_matches": row["pool_claimed"] == row["claimed"] == row["perk_claims"],
    }


def ratios(results: dict) -> dict:
    def ratio(a, b):
        return round(a / b, 3) if a and b else None

    per_second = {k: v.get("per_second") for k, v in results.items() if isinstance(v, dict)}
    perk = per_second.get(f"perk_hot_{HOT_CLIENTS}_clients")
    return {
        "perk_hot_vs_pgbench": ratio(perk, results.get("pgbench_simple_update", {}).get("tps")),
        "perk_hot_vs_coupon": ratio(perk, per_second.get(f"coupon_{HOT_CLIENTS}_clients")),
        "perk_hot_vs_noop": ratio(perk, per_second.get("noop_max")),
    }


async def main() -> None:
    wanted = os.environ.get("BENCH_PHASES")
    chosen = (
        [p.strip() for p in wanted.split(",") if p.strip() in PHASES] if wanted else list(PHASES)
    )
    if not chosen:
        print(f"no subscription phase in BENCH_PHASES={wanted} (phases: {', '.join(PHASES)})")
        return
    results: dict = {"replicas": REPLICAS, "seconds_per_phase": SECONDS}
    async with Bench() as bench:
        for name in chosen:
            await PHASES[name](bench, results)
        results["ratios"] = ratios(results)
        if bench.arranged is not None:
            results["inventory_check"] = await handed_out(bench)
    name = "subscription_claims"
    write(name if chosen == list(PHASES) else f"{name}." + "+".join(chosen), results)


if __name__ == "__main__":
    asyncio.run(main())
