"""Giftcard benchmark: redemption (PlaceHolds by card number + PIN, then CaptureHold) over gRPC
next to pgbench on the same server, the cost of a PIN check, and a 100,000-card batch
(generation and the export of its secrets).

As in points_bench: the service runs as separate replica processes (production settings: the
default relay poll, pool of 20, jobs running), the load generator is this one Python process, a
no-op RPC measures what the load generator and gRPC cost, and every phase says where the
machine's CPU went. The cards redeemed are made the way the back office makes them: product,
batch request and its two approvals, generation, export of the secrets, loads and their review,
requisition, its approvals and fulfilment, sale. Settings: BENCH_SECONDS (10), BENCH_REPLICAS
(2), BENCH_PHASES (all; comma-separated names of PHASES, others ignored).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import datetime as dt
import json
import os
import time
import timeit
import uuid
from pathlib import Path

from grpc_health.v1 import health_pb2

from loyalty.giftcard.v1 import giftcard_service_pb2 as pb
from loyalty.giftcard.v1 import giftcard_service_pb2_grpc as pb_grpc
from loyalty.giftcard.v1 import resources_pb2 as res
from loyalty.giftcard.v1 import wallet_service_pb2 as wpb
from loyalty.giftcard.v1 import wallet_service_pb2_grpc as wpb_grpc
from services.giftcard import deps as giftcard_deps
from services.giftcard.app import GiftcardApp
from services.giftcard.domain import cards as numbers
from services.giftcard.domain import pins
from services.giftcard.store import stock_checks
from services.kit import journal
from tests.perf.common import (
    CLIENTS,
    HOT_CLIENTS,
    RESULTS,
    SECONDS,
    Clock,
    closed_loop,
    cpu_per_call,
    percentile,
    phases_wanted,
    rates,
    ratio,
    results_name,
    write,
)
from tests.perf.setup import REPLICAS, ServiceBench, noop_max, pgbench, stop_replica

FACE_MINOR = 1000_00  # a 1,000 CNY card
CARDS = 2000  # distinct cards the redeeming clients take turns on
HOT_CARDS = 4  # the cards every client of the hot variant redeems from
REDEEM_MINOR = 1_00  # one redemption: 1,000 redemptions empty a card
HOT_REDEEM_MINOR = 10  # 10,000 per hot card: the hot phase cannot run out
BIG_BATCH = 100_000
EXPORT_SECONDS = 3 * SECONDS  # the 100,000-card export stops there if not done (it says so)
LOAD_ENTRIES = 1000  # LoadCards takes at most this many
STOREFRONT = ["giftcard:checkout"]


def _kib(pid: int, field: str) -> int:
    """A VmRSS / VmHWM line of /proc/<pid>/status, in KiB (0 when unreadable)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _mib(kib: int) -> float:
    return round(kib / 1024, 1)


def _process_start() -> float | None:
    """When this process started (epoch seconds): what `make bench` wrote since is this run's."""
    try:
        ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        boot = next(
            int(line.split()[1])
            for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("btime ")
        )
    except (OSError, ValueError, IndexError, StopIteration):
        return None
    return boot + ticks / os.sysconf("SC_CLK_TCK")


def points_reference() -> dict:
    """points' reserve_capture (its ReserveHold + CaptureHold pair) from .bench/points*.json,
    and whether that file was written by this run (same machine state, same server)."""
    found = []
    for path in RESULTS.glob("points*.json"):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(data.get("reserve_capture"), dict):
            found.append((path.stat().st_mtime, path, data))
    if not found:
        return {"note": "no .bench/points*.json with reserve_capture: run tests.perf.points_bench"}
    mtime, path, data = max(found, key=lambda f: f[0])
    started = _process_start()
    figure = data["reserve_capture"]
    out = {
        "file": path.name,
        "written": dt.datetime.fromtimestamp(mtime, dt.UTC).isoformat(timespec="seconds"),
        "same_run": None if started is None else mtime >= started,
        "reserve_capture_per_second": figure.get("per_second"),
        "reserve_capture_p50_ms": figure.get("p50_ms"),
        "reserve_capture_p99_ms": figure.get("p99_ms"),
        **{f"reserve_capture_{k}": v for k, v in cpu_per_call(figure).items()},
        "pgbench_tps": data.get("pgbench_simple_update", {}).get("tps"),
        "replicas": data.get("replicas"),
    }
    if not out["same_run"]:
        out["note"] = "not from this run: not comparable (machine load, server state may differ)"
    return out


class Steps:
    """Latencies of the RPCs inside one measured call (a redemption is two)."""

    def __init__(self) -> None:
        self.samples: dict[str, list[float]] = collections.defaultdict(list)

    def add(self, name: str, seconds: float) -> None:
        self.samples[name].append(seconds)

    def result(self) -> dict:
        return {
            name: {
                "count": len(s),
                "p50_ms": round(percentile(s, 0.50) * 1000, 3),
                "p99_ms": round(percentile(s, 0.99) * 1000, 3),
            }
            for name, s in self.samples.items()
        }


class Bench(ServiceBench):
    """Identity (for tokens), a fresh giftcard database, the replicas, stubs, the people of the
    back office, the cards (made on first use) and the calls."""

    app_class = GiftcardApp

    async def _start(self) -> None:
        await super()._start()
        self.giftcard = self.stubs(pb_grpc.GiftcardServiceStub)
        self.wallet = self.stubs(wpb_grpc.WalletServiceStub)
        self.checkout = self.token("bench-storefront", "service", STOREFRONT)
        # The back office: a different person in each role (maker-checker holds).
        self.staff = {
            role: self.token(f"bench.{role}", "operator", [f"giftcard:{role}"])
            for role in (
                "manager",
                "requester",
                "approver",
                "operator",
                "loader",
                "reviewer",
                "sales",
            )
        }
        self.steps = Steps()
        self.arranged: dict | None = None
        self.cards: list[tuple[str, str]] = []
        self.hot: list[tuple[str, str]] = []

    def replica_env(self) -> dict[str, str]:
        return {
            "GIFTCARD_PIN_KEY": self.settings.pin_key.get_secret_value(),
            "GIFTCARD_PIN_KEY_ID": self.settings.pin_key_id,
        }

    # --- the back office, through its RPCs ------------------------------------------------
    async def product(self, stub, face_minor: int) -> str:
        made = await stub.CreateProduct(
            pb.CreateProductRequest(
                request_id=str(uuid.uuid4()),
                product=res.Product(
                    display_name=f"Bench card {face_minor // 100} CNY",
                    kind=res.PRODUCT_KIND_DENOMINATION,
                    currency_code="CNY",
                    face_value_minor=face_minor,
                    channels=["online", "store"],
                    enabled=True,
                ),
            ),
            metadata=self.staff["manager"],
        )
        return made.product.product_id

    async def approved_batch(self, stub, product_id: str, count: int) -> res.Batch:
        """A batch request approved by the approver and, above the threshold, a manager."""
        batch = (
            await stub.CreateBatch(
                pb.CreateBatchRequest(
                    request_id=str(uuid.uuid4()), product_id=product_id, card_count=count
                ),
                metadata=self.staff["requester"],
            )
        ).batch
        for role in ("approver", "manager"):
            if batch.state == res.BATCH_STATE_APPROVED:
                break
            batch = (
                await stub.ApproveBatch(
                    pb.ApproveBatchRequest(request_id=str(uuid.uuid4()), batch_id=batch.batch_id),
                    metadata=self.staff[role],
                )
            ).batch
        assert batch.state == res.BATCH_STATE_APPROVED, batch
        return batch

    async def generate(self, stub, batch_id: str) -> res.Batch:
        response = await stub.GenerateBatchCards(
            pb.GenerateBatchCardsRequest(request_id=str(uuid.uuid4()), batch_id=batch_id),
            metadata=self.staff["operator"],
        )
        return response.batch

    async def export_page(self, stub, batch_id: str, page_size: int = 0):
        return await stub.ExportBatchSecrets(
            pb.ExportBatchSecretsRequest(
                request_id=str(uuid.uuid4()), batch_id=batch_id, page_size=page_size
            ),
            metadata=self.staff["operator"],
        )

    async def arrange(self) -> dict:
        """ACTIVE cards with FACE_MINOR each, made as the back office makes them, timed step by
        step (once; the phases that redeem share them)."""
        if self.arranged is not None:
            return self.arranged
        stub, staff, count = self.giftcard, self.staff, CARDS + HOT_CARDS
        timings: dict[str, float] = {}

        @contextlib.asynccontextmanager
        async def step(name: str):
            start = time.perf_counter()
            yield
            timings[name] = round(time.perf_counter() - start, 3)

        with Clock() as clock:
            async with step("product_and_batch_approved"):
                product_id = await self.product(stub, FACE_MINOR)
                batch = await self.approved_batch(stub, product_id, count)
            async with step("generate"):
                await self.generate(stub, batch.batch_id)
            rows: list = []
            async with step("export"):
                while True:
                    page = await self.export_page(stub, batch.batch_id, 10_000)
                    rows += page.rows
                    if page.remaining_count == 0:
                        break
            async with step("load_and_review"):
                for first in range(0, len(rows), LOAD_ENTRIES):
                    chunk = rows[first : first + LOAD_ENTRIES]
                    load = (
                        await stub.LoadCards(
                            pb.LoadCardsRequest(
                                request_id=str(uuid.uuid4()),
                                batch_id=batch.batch_id,
                                entries=[
                                    pb.LoadEntryInput(
                                        card_number=r.card_number, amount_minor=FACE_MINOR
                                    )
                                    for r in chunk
                                ],
                            ),
                            metadata=staff["loader"],
                        )
                    ).load
                    await stub.ApproveLoad(
                        pb.ApproveLoadRequest(
                            request_id=str(uuid.uuid4()),
                            load_id=load.load_id,
                            card_count=len(chunk),
                            total_minor=len(chunk) * FACE_MINOR,
                        ),
                        metadata=staff["reviewer"],
                    )
            async with step("requisition_approved_fulfilled"):
                requisition = (
                    await stub.CreateRequisition(
                        pb.CreateRequisitionRequest(
                            request_id=str(uuid.uuid4()),
                            kind=res.REQUISITION_KIND_SALES_DESK,
                            sales_desk="bench/desk-1",
                            lines=[res.RequisitionLine(product_id=product_id, card_count=count)],
                        ),
                        metadata=staff["requester"],
                    )
                ).requisition
                for role in ("approver", "manager"):
                    if requisition.state == res.REQUISITION_STATE_APPROVED:
                        break
                    requisition = (
                        await stub.ApproveRequisition(
                            pb.ApproveRequisitionRequest(
                                request_id=str(uuid.uuid4()),
                                requisition_id=requisition.requisition_id,
                            ),
                            metadata=staff[role],
                        )
                    ).requisition
                await stub.FulfilRequisition(
                    pb.FulfilRequisitionRequest(
                        request_id=str(uuid.uuid4()), requisition_id=requisition.requisition_id
                    ),
                    metadata=staff["operator"],
                )
            async with step("sale"):
                sale = (
                    await stub.CreateSale(
                        pb.CreateSaleRequest(
                            request_id=str(uuid.uuid4()),
                            requisition_id=requisition.requisition_id,
                            paid_amount_minor=count * FACE_MINOR,
                            payment_method="bank_transfer",
                            payment_reference="bench",
                        ),
                        metadata=staff["sales"],
                    )
                ).sale
                assert sale.card_count == count, sale
        secrets = [(r.card_number, r.pin) for r in rows]
        self.cards, self.hot = secrets[:CARDS], secrets[CARDS:]
        self.arranged = {
            "cards": count,
            "face_value_minor": FACE_MINOR,
            "seconds": round(clock.seconds, 3),
            "cards_per_second": round(count / clock.seconds, 1),
            "steps_seconds": timings,
        }
        return self.arranged

    # --- the calls ------------------------------------------------------------------------
    async def noop(self, n: int, i: int):
        await self.health.Check(health_pb2.HealthCheckRequest(), metadata=self.checkout)

    async def _redeem(self, card: tuple[str, str], amount: int, n: int, i: int) -> None:
        """A checkout paying with one card by number and PIN: hold, then capture."""
        number, pin = card
        start = time.perf_counter()
        placed = await self.wallet.PlaceHolds(
            wpb.PlaceHoldsRequest(
                request_id=str(uuid.uuid4()),
                order_id=f"order-{n}-{i}-{uuid.uuid4().hex[:6]}",
                currency_code="CNY",
                order_amount_minor=amount,
                channel="online",
                sources=[
                    wpb.HoldSource(
                        kind=res.HOLD_SOURCE_KIND_CARD_SECRET,
                        card=wpb.CardSecret(card_number=number, pin=pin),
                        amount_minor=amount,
                    )
                ],
            ),
            metadata=self.checkout,
        )
        held = time.perf_counter()
        self.steps.add("PlaceHolds", held - start)
        await self.wallet.CaptureHold(
            wpb.CaptureHoldRequest(request_id=str(uuid.uuid4()), hold_id=placed.holds[0].hold_id),
            metadata=self.checkout,
        )
        self.steps.add("CaptureHold", time.perf_counter() - held)

    async def redeem(self, n: int, i: int):
        # Client n takes every CLIENTS-th card: no two clients on one card at a time.
        await self._redeem(self.cards[(n + i * CLIENTS) % len(self.cards)], REDEEM_MINOR, n, i)

    async def redeem_hot(self, n: int, i: int):
        await self._redeem(self.hot[(n + i) % len(self.hot)], HOT_REDEEM_MINOR, n, i)

    async def balance(self, n: int, i: int):
        number, pin = self.cards[(n + i * CLIENTS) % len(self.cards)]
        await self.wallet.CheckCardBalance(
            wpb.CheckCardBalanceRequest(card=wpb.CardSecret(card_number=number, pin=pin)),
            metadata=self.checkout,
        )


# --- phases: each adds its figures to `results` --------------------------------------------
async def noop(bench: Bench, results: dict) -> None:
    results["noop_max"] = await noop_max(bench, CLIENTS)


async def _redeeming(bench: Bench, call, clients: int, **about) -> dict:
    await bench.arrange()
    bench.steps = Steps()
    run = await closed_loop(call, clients, SECONDS, bench.meter())
    return {
        **run,
        **cpu_per_call(run),
        "clients": clients,
        "counts": "redemptions (a PlaceHolds by card number + PIN, then its CaptureHold)",
        **about,
        "rpcs": bench.steps.result(),
    }


async def redeem(bench: Bench, results: dict) -> None:
    results["arrange"] = await bench.arrange()
    results["redeem"] = await _redeeming(
        bench, bench.redeem, CLIENTS, cards=CARDS, amount_minor=REDEEM_MINOR
    )


async def hot_card(bench: Bench, results: dict) -> None:
    results["arrange"] = await bench.arrange()
    run = await _redeeming(
        bench, bench.redeem_hot, HOT_CLIENTS, cards=HOT_CARDS, amount_minor=HOT_REDEEM_MINOR
    )
    results[f"hot_card_{HOT_CLIENTS}_clients"] = {**run, "errors_reaching_clients": run["errors"]}


async def balance(bench: Bench, results: dict) -> None:
    results["arrange"] = await bench.arrange()
    run = await closed_loop(bench.balance, CLIENTS, SECONDS, bench.meter())
    results["check_card_balance"] = {
        **run,
        **cpu_per_call(run),
        "clients": CLIENTS,
        "cards": CARDS,
        "what": "CheckCardBalance by number + PIN (right PINs): the PIN check of every redemption",
    }


def _per_call_us(fn, number: int) -> float:
    return round(min(timeit.repeat(fn, number=number, repeat=3)) / number * 1e6, 3)


async def pin_verify(bench: Bench, results: dict) -> None:
    """What the PIN rules cost in-process, with the service's own keyring (HMAC-SHA256)."""
    keyring = giftcard_deps.keyring(bench.settings)
    prefix, length = bench.settings.card_number_prefix, bench.settings.card_number_length
    number, pin = numbers.new_number(prefix, length), pins.new_pin()
    stored = pins.hash_pin(pin, number, keyring.current)
    wrong = pins.new_pin()
    runs = 20_000
    results["pin_verify_in_process"] = {
        "verify_right_pin_us": _per_call_us(
            lambda: pins.verify(keyring, number, pin, stored), runs
        ),
        "verify_wrong_pin_us": _per_call_us(
            lambda: pins.verify(keyring, number, wrong, stored), runs
        ),
        "verify_unknown_card_us": _per_call_us(
            lambda: pins.verify(keyring, number, pin, None), runs
        ),
        "parse_number_and_pin_us": _per_call_us(
            lambda: (numbers.parse(number), pins.parse(pin)), runs
        ),
        # What generation does per card before the database sees it.
        "new_number_us": _per_call_us(lambda: numbers.new_number(prefix, length), runs),
        "new_pin_and_hash_us": _per_call_us(
            lambda: pins.hash_pin(pins.new_pin(), number, keyring.current), runs
        ),
        "calls_per_figure": runs,
    }


async def generation(bench: Bench, results: dict) -> None:
    """A 100,000-card batch on a replica of its own (fresh: its peak memory is the batch's):
    the request and its approvals, generation (RSS sampled meanwhile), the export of every
    secret at the default page size."""
    process, port = await bench.start_replica("generation")
    try:
        stub = pb_grpc.GiftcardServiceStub(bench.channel(port))
        pid = process.pid
        with Clock() as clock:
            product_id = await bench.product(stub, 500_00)
            batch = await bench.approved_batch(stub, product_id, BIG_BATCH)
        approval_seconds = clock.seconds
        rss_before = _kib(pid, "VmRSS")
        hwm_before = _kib(pid, "VmHWM")
        peak = [rss_before]
        done = asyncio.Event()

        async def sample() -> None:
            while not done.is_set():
                peak.append(_kib(pid, "VmRSS"))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(done.wait(), 0.01)

        sampler = asyncio.create_task(sample())
        with Clock() as clock, bench.meter([pid]) as meter:
            generated = await bench.generate(stub, batch.batch_id)
        done.set()
        await sampler
        hwm_after = _kib(pid, "VmHWM")
        assert generated.state == res.BATCH_STATE_GENERATED, generated
        results["generate_100k"] = {
            "cards": BIG_BATCH,
            "seconds": round(clock.seconds, 3),
            "cards_per_second": round(BIG_BATCH / clock.seconds, 1),
            "request_and_approvals_seconds": round(approval_seconds, 3),
            "replica_rss_before_mib": _mib(rss_before),
            "replica_rss_peak_sampled_mib": _mib(max(peak)),
            "replica_vm_hwm_mib": _mib(hwm_after),
            "replica_vm_hwm_before_mib": _mib(hwm_before),
            "replica_peak_growth_mib": _mib(max(max(peak), hwm_after) - rss_before),
            "rss_samples": len(peak),
            "cpu_cores": meter.cores,
            "what": "one GenerateBatchCards call; the replica serves nothing else",
        }
        page_seconds: list[float] = []
        rows = 0
        remaining = BIG_BATCH
        with Clock() as clock, bench.meter([pid]) as meter:
            deadline = time.perf_counter() + EXPORT_SECONDS
            while remaining and time.perf_counter() < deadline:
                start = time.perf_counter()
                page = await bench.export_page(stub, batch.batch_id)
                page_seconds.append(time.perf_counter() - start)
                rows += len(page.rows)
                remaining = page.remaining_count
        results["export_100k"] = {
            "pages": len(page_seconds),
            "page_size": bench.settings.export_page_size,
            "rows": rows,
            "complete": remaining == 0,
            "remaining": remaining,
            "seconds": round(clock.seconds, 3),
            "pages_per_second": round(len(page_seconds) / clock.seconds, 2),
            "rows_per_second": round(rows / clock.seconds, 1),
            "page_p50_ms": round(percentile(page_seconds, 0.5) * 1000, 1),
            "page_p99_ms": round(percentile(page_seconds, 0.99) * 1000, 1),
            # Whether a page costs more the further the export has gone.
            "first_10_pages_p50_ms": round(percentile(page_seconds[:10], 0.5) * 1000, 1),
            "last_10_pages_p50_ms": round(percentile(page_seconds[-10:], 0.5) * 1000, 1),
            "replica_vm_hwm_after_mib": _mib(_kib(pid, "VmHWM")),
            "cpu_cores": meter.cores,
            "what": f"ExportBatchSecrets pages one after another, for at most {EXPORT_SECONDS} s",
        }
    finally:
        await stop_replica(process)


PHASES = {
    "pgbench": pgbench,
    "noop": noop,
    "redeem": redeem,
    "hot_card": hot_card,
    "balance": balance,
    "pin_verify": pin_verify,
    "generation": generation,
}


def ratios(results: dict) -> dict:
    per_second = rates(results)
    points = results.get("points_reference", {})
    same_run = points.get("same_run")
    return {
        "redeem_vs_pgbench": ratio(
            per_second.get("redeem"), results.get("pgbench_simple_update", {}).get("tps")
        ),
        # The reference to beat: points' ReserveHold + CaptureHold pair in the same run.
        "redeem_vs_points_reserve_capture": (
            ratio(per_second.get("redeem"), points.get("reserve_capture_per_second"))
            if same_run
            else None
        ),
        "hot_card_vs_redeem": ratio(
            per_second.get(f"hot_card_{HOT_CLIENTS}_clients"), per_second.get("redeem")
        ),
        "check_card_balance_vs_noop": ratio(
            per_second.get("check_card_balance"), per_second.get("noop_max")
        ),
        "redeem_vs_noop": ratio(per_second.get("redeem"), per_second.get("noop_max")),
    }


async def main() -> None:
    chosen = phases_wanted(PHASES, "giftcard")
    if not chosen:
        return
    results: dict = {"replicas": REPLICAS, "seconds_per_phase": SECONDS}
    async with Bench() as bench:
        for name in chosen:
            await PHASES[name](bench, results)
        results["points_reference"] = points = points_reference()
        if "redeem" in results:  # the reference to beat, beside the figure
            results["redeem"]["points_reserve_capture"] = {
                k: points.get(k)
                for k in (
                    "reserve_capture_per_second",
                    "reserve_capture_p99_ms",
                    "reserve_capture_replicas_cpu_ms_per_call",
                    "reserve_capture_postgres_cpu_ms_per_call",
                    "same_run",
                )
            }
        results["ratios"] = ratios(results)
        checks = {k: c.sql for k, c in stock_checks.CHECKS.items()}
        discrepancies = await journal.snapshot(bench.pool, checks)
        results["reconciliation_discrepancies"] = {k: len(v) for k, v in discrepancies.items()}
    write(results_name("giftcard", chosen, PHASES), results)


if __name__ == "__main__":
    asyncio.run(main())
