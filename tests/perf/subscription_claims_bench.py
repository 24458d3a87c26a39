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
import uuid

from grpc_health.v1 import health_pb2

from loyalty.subscription.v1 import resources_pb2 as res
from loyalty.subscription.v1 import subscription_admin_service_pb2 as admin_pb
from loyalty.subscription.v1 import subscription_admin_service_pb2_grpc as admin_grpc
from loyalty.subscription.v1 import subscription_service_pb2 as pb
from loyalty.subscription.v1 import subscription_service_pb2_grpc as pb_grpc
from loyalty.type.v1 import money_pb2
from services.subscription.app import SubscriptionApp
from tests.perf.common import (
    HOT_CLIENTS,
    SECONDS,
    closed_loop,
    cpu_per_call,
    phases_wanted,
    rates,
    ratio,
    results_name,
    write,
)
from tests.perf.setup import REPLICAS, ServiceBench, noop_max, pgbench

PLAN = "bench_monthly"
PERK, COUPON = "bench_perk", "bench_coupon"
PER_MONTH = 1000  # the most a benefit allows: a member is never out of quota in a phase
MEMBERS_PER_CLIENT = 8
CODES = 100_000  # more than a phase hands out on any machine this runs on
UPLOAD = 10_000  # UploadPerkCodes takes at most this many
SCOPES = {"operator": ["subscription:admin"], "service": ["subscription:checkout"]}


def code_keys(settings) -> dict[str, str]:
    """The key the service seals partner codes with, for a process of the service."""
    return {
        "SUBSCRIPTION_CODE_KEY": settings.code_key.get_secret_value(),
        "SUBSCRIPTION_CODE_KEY_ID": settings.code_key_id,
    }


def _cny(minor: int) -> money_pb2.Money:
    return money_pb2.Money(currency_code="CNY", amount_minor=minor)


class Bench(ServiceBench):
    """Identity (for tokens), a fresh subscription database, the replicas, stubs, one pool of
    partner codes, a plan with a partner perk and a coupon pack, the members and the calls."""

    app_class = SubscriptionApp

    async def _start(self) -> None:
        await super()._start()
        self.stub = self.stubs(pb_grpc.SubscriptionServiceStub)
        self.admin = self.stubs(admin_grpc.SubscriptionAdminServiceStub)
        self.operator = self.token("bench-operator", "operator", SCOPES["operator"])
        self.checkout = self.token("bench-storefront", "service", SCOPES["service"])
        self.members: list[str] = []
        self.arranged: dict | None = None

    def replica_env(self) -> dict[str, str]:
        return code_keys(self.settings)

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
async def noop(bench: Bench, results: dict) -> None:
    results["noop_max"] = await noop_max(bench, HOT_CLIENTS)


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
    per_second = rates(results)
    perk = per_second.get(f"perk_hot_{HOT_CLIENTS}_clients")
    return {
        "perk_hot_vs_pgbench": ratio(perk, results.get("pgbench_simple_update", {}).get("tps")),
        "perk_hot_vs_coupon": ratio(perk, per_second.get(f"coupon_{HOT_CLIENTS}_clients")),
        "perk_hot_vs_noop": ratio(perk, per_second.get("noop_max")),
    }


async def main() -> None:
    chosen = phases_wanted(PHASES, "subscription")
    if not chosen:
        return
    results: dict = {"replicas": REPLICAS, "seconds_per_phase": SECONDS}
    async with Bench() as bench:
        for name in chosen:
            await PHASES[name](bench, results)
        results["ratios"] = ratios(results)
        if bench.arranged is not None:
            results["inventory_check"] = await handed_out(bench)
    write(results_name("subscription_claims", chosen, PHASES), results)


if __name__ == "__main__":
    asyncio.run(main())
