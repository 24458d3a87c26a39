"""Growth benchmark: the monthly settlement of BENCH_GROWTH_MEMBERS (1,000,000) members with
12 months of facts (19 each: 8 orders of 1 or 2 lines, a refund, 6 activities, a verification,
a profile, a reputation assessment and a credit report), the rehearsal of a candidate rule set
over the same base, and fact ingestion from the bus next to the raw consume rate of the same
broker.

`first_settlement`: the month before the due one, in this process: every member climbs from
registered at once, the most events a settlement ever writes. `settle`: the due month after it,
`python -m services.growth settle` as its own process, as an operator (or the job of a replica)
runs it: members settled per second, the process's peak RSS, and the check that every member
was settled once with one growth.score_settled each. `rehearse`: the candidate
(the default bands lowered by a quarter) against the active rule set, counted chunk by chunk,
members per second. `ingest`: BENCH_GROWTH_EVENTS (20,000) order.paid events published as the
commerce broker user while growth consumes them (each a fact of an order and its lines, in the
event's inbox transaction), against a plain consumer acking as many messages of the same size
on the same broker. The facts are written straight to the database: arranging a million members
through the bus would measure ingestion, which `ingest` measures on its own. pgbench on the same
server gives the baseline. BENCH_GROWTH_MEMBERS and BENCH_GROWTH_EVENTS set the counts.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import resource
import sys
import uuid

import aio_pika

from loyalty.commerce.v1 import events_pb2 as commerce
from loyalty.growth.v1 import events_pb2 as growth_events
from services.growth.api.rules_wire import rule_set_to_json
from services.growth.app import GrowthApp
from services.growth.domain import periods
from services.growth.domain.defaults import DEFAULT_CATEGORIES, DEFAULT_RULES
from services.growth.domain.rules import Band, Tier
from services.kit import events
from tests.perf.common import Clock, CpuMeter, pgbench_simple_update, pids_named, write
from tests.perf.setup import child_env, migrated_app, open_pool, started_identity
from tests.support import servers

MEMBERS = int(os.environ.get("BENCH_GROWTH_MEMBERS", "1000000"))
EVENTS = int(os.environ.get("BENCH_GROWTH_EVENTS", "20000"))
CHUNK = 50_000  # members per arranging transaction
FACTS_PER_MEMBER = 19


def member_id(i: str) -> str:
    """The SQL of the i-th bench member's id (deterministic: facts refer to it)."""
    return f"('00000000-0000-4000-8000-' || lpad(to_hex({i}), 12, '0'))::uuid"


async def arrange(pool, count: int, start, span_seconds: int) -> float:
    """`count` registered members and their facts spread over the window [start, +span)."""
    m = member_id("i")

    def at(x: str) -> str:  # an instant in the window, spread by `x`
        return f"$3::timestamptz + (({x}) % $4) * interval '1 second'"

    amount = "(1000 + (i * j * 37) % 50000)"
    statements = [
        f"INSERT INTO members (member_id, registered_at) SELECT {m}, $3"
        " FROM generate_series($1::int, $2::int) i",
        "INSERT INTO orders (member_id, order_id, occurred_at, currency, paid_minor,"
        f" platform_paid_minor) SELECT {m}, 'o' || j, {at('i::bigint * 7919 + j * 104729')},"
        f" 'CNY', {amount} * (1 + (j % 3 = 0)::int), {amount} / 5"
        " FROM generate_series($1::int, $2::int) i, generate_series(1, 8) j",
        "INSERT INTO order_lines (member_id, order_id, line_id, category, paid_minor)"
        f" SELECT {m}, 'o' || j, 'l' || k, ($3::text[])[1 + (i + j + k) % 21], {amount}"
        " FROM generate_series($1::int, $2::int) i, generate_series(1, 8) j,"
        " generate_series(1, 2) k WHERE k = 1 OR j % 3 = 0",
        "INSERT INTO refunds (member_id, refund_id, order_id, occurred_at, currency)"
        f" SELECT {m}, 'r1', 'o1', {at('i::bigint * 7919 + 200000')}, 'CNY'"
        " FROM generate_series($1::int, $2::int) i",
        "INSERT INTO refund_lines (member_id, refund_id, order_id, line_id, amount_minor)"
        f" SELECT {m}, 'r1', 'o1', 'l1', 500 FROM generate_series($1::int, $2::int) i",
        "INSERT INTO activities (member_id, source_id, occurred_at, kind)"
        f" SELECT {m}, 'a' || j, {at('i::bigint * 31 + j * 2592000')},"
        " (ARRAY['review', 'photo_review', 'answer', 'share'])[1 + j % 4]"
        " FROM generate_series($1::int, $2::int) i, generate_series(1, 6) j",
        "INSERT INTO standings (member_id, kind, source_id, occurred_at, filled, score)"
        f" SELECT {m}, kind, 's-' || kind, {at('i::bigint * 13')},"
        " CASE WHEN kind = 'profile' THEN ARRAY['nickname', 'birthday', 'gender'] END,"
        " CASE kind WHEN 'reputation_assessed' THEN i % 101"
        " WHEN 'credit_reported' THEN i % 150 END"
        " FROM generate_series($1::int, $2::int) i, unnest(ARRAY['verified', 'profile',"
        " 'reputation_assessed', 'credit_reported']) kind",
    ]
    categories = list(DEFAULT_CATEGORIES)
    with Clock() as clock:
        for first in range(1, count + 1, CHUNK):
            last = min(count, first + CHUNK - 1)
            async with pool.acquire() as conn, conn.transaction():
                for sql in statements:
                    if "$4" in sql:  # spread over the window
                        await conn.execute(sql, first, last, start, span_seconds)
                    elif "$3" in sql:  # the categories, or the registration time
                        third = categories if "text[]" in sql else start
                        await conn.execute(sql, first, last, third)
                    else:
                        await conn.execute(sql, first, last)
    async with pool.acquire() as conn:
        await conn.execute("VACUUM ANALYZE")
    return round(clock.seconds, 1)


async def settle_process(settings) -> tuple[dict, float, int]:
    """`python -m services.growth settle` on the bench's database: what it printed, the wall
    seconds and its peak RSS in KiB."""
    env = child_env(GROWTH_DATABASE_URL=settings.dsn())
    with Clock() as clock:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "services.growth",
            "settle",
            env=env,
            stdout=asyncio.subprocess.PIPE,
        )
        out, _ = await process.communicate()
    # The only child waited for so far: its peak is the children's maximum.
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    said = json.loads(out.decode().strip().splitlines()[-1])
    return said, clock.seconds, peak_kib


async def settled_once(pool, period: str, count: int) -> dict:
    row = await pool.fetchrow(
        "SELECT (SELECT count(*) FROM member_scores WHERE period = $1) AS scores,"
        " (SELECT count(DISTINCT member_id) FROM member_scores WHERE period = $1) AS members,"
        " (SELECT count(*) FROM outbox WHERE event_type = $2) AS score_settled,"
        " (SELECT count(DISTINCT subject) FROM outbox WHERE event_type = $2) AS announced,"
        " (SELECT count(*) FROM outbox) AS events,"
        " (SELECT count(*) FROM gift_grants) AS gift_packs",
        period,
        events.type_of(growth_events.GrowthScoreSettled),
    )
    checked = dict(row)
    checked["each_settled_once"] = (
        checked["scores"] == checked["members"] == checked["score_settled"]
    ) and checked["announced"] == count == checked["members"]
    return checked


def order_event(i: int, member: str) -> commerce.OrderPaid:
    event = commerce.OrderPaid(
        order_id=f"bench-{i}", member_id=member, currency_code="CNY", paid_amount_minor=12_300
    )
    event.lines.add(line_id="l1", category="books", paid_amount_minor=12_300)
    event.paid_time.GetCurrentTime()
    return event


async def publish_all(channel, exchange, messages) -> None:
    for start in range(0, len(messages), 500):
        await asyncio.gather(
            *(exchange.publish(m, routing_key=rk) for m, rk in messages[start : start + 500])
        )


async def ingest(stack, identity, results: dict) -> None:
    """Growth consuming EVENTS order.paid events, then a plain consumer on the same broker."""
    app = await migrated_app(
        stack, GrowthApp, identity=identity, **servers.publisher_settings("growth")
    )
    # Its queues are deleted once it has stopped (callbacks run last pushed first).
    admin = await aio_pika.connect_robust(servers.AMQP_URL)
    stack.push_async_callback(admin.close)
    stack.push_async_callback(servers.delete_queues, admin, app)
    await app.start(relay=False, consume=True, schedule=False)
    stack.push_async_callback(app.stop)
    amqp = await aio_pika.connect_robust(servers.publisher_urls()["commerce"])
    stack.push_async_callback(amqp.close)
    channel = await amqp.channel(publisher_confirms=True)
    names = servers.broker_settings()
    (exchange,) = await servers.declare_exchange(channel, names["commerce_exchange"])
    user = amqp.url.user or "guest"
    member = str(uuid.uuid4())
    type_ = events.type_of(commerce.OrderPaid)
    messages = []
    for i in range(EVENTS):
        message = events.to_amqp(
            event_id=str(uuid.uuid4()),
            type_=type_,
            source="/storefront/bench",
            subject=member,
            data=events.payload_json(order_event(i, member)),
            user_id=user,
        )
        messages.append((message, type_))
    size = len(messages[0][0].body)
    with (
        CpuMeter(
            {"bench": lambda: [os.getpid()], "postgres": lambda: pids_named("postgres")}
        ) as cpu,
        Clock() as clock,
    ):
        await publish_all(channel, exchange, messages)
        while await app.pool.fetchval("SELECT count(*) FROM inbox") < EVENTS:
            await asyncio.sleep(0.05)
    results["ingest"] = {
        "events": EVENTS,
        "seconds": round(clock.seconds, 2),
        "per_second": round(EVENTS / clock.seconds, 1),
        "cpu_cores": cpu.cores,
        "facts": await app.pool.fetchval("SELECT count(*) FROM orders"),
    }
    # The same broker, a plain consumer: publish as many messages of that size and ack each.
    plain = await aio_pika.connect_robust(servers.AMQP_URL)
    stack.push_async_callback(plain.close)
    channel = await plain.channel(publisher_confirms=True)
    raw = await channel.declare_queue(f"bench.{servers.RUN}.raw", auto_delete=True)
    got = asyncio.Event()
    seen = 0

    async def on_message(message) -> None:
        nonlocal seen
        await message.ack()
        seen += 1
        if seen == EVENTS:
            got.set()

    consumer_channel = await plain.channel()
    await consumer_channel.set_qos(prefetch_count=app.settings.consumer_prefetch)
    queue = await consumer_channel.get_queue(raw.name)
    await queue.consume(on_message)
    body = b"x" * size
    default = channel.default_exchange
    with Clock() as clock:
        await publish_all(
            channel,
            default,
            [(aio_pika.Message(body=body), raw.name) for _ in range(EVENTS)],
        )
        await got.wait()
    results["raw_consume"] = {
        "messages": EVENTS,
        "bytes": size,
        "seconds": round(clock.seconds, 2),
        "per_second": round(EVENTS / clock.seconds, 1),
    }
    results["ingest_vs_raw"] = round(
        results["ingest"]["per_second"] / results["raw_consume"]["per_second"], 3
    )


async def main() -> None:
    results: dict = {"members": MEMBERS, "facts_per_member": FACTS_PER_MEMBER}
    async with contextlib.AsyncExitStack() as stack:
        identity = await started_identity(stack)
        app = await migrated_app(stack, GrowthApp, identity=identity, pool_max=4)
        pool = await open_pool(stack, app.settings.dsn())
        app.deps.pool = pool
        await app.usecases.rules.ensure_default(pool)
        now = app.deps.now()
        period = periods.due_period(now, app.deps.zone)
        settle_time = periods.settlement_instant(period, app.deps.zone)
        window = periods.window_ending(settle_time, app.deps.zone)
        span = int((window.end - window.start).total_seconds())
        results["period"] = period
        results["arrange_seconds"] = await arrange(pool, MEMBERS, window.start, span)
        results["facts"] = await pool.fetchval(
            "SELECT (SELECT count(*) FROM orders) + (SELECT count(*) FROM refunds)"
            " + (SELECT count(*) FROM activities) + (SELECT count(*) FROM standings)"
        )
        results["database_bytes"] = await pool.fetchval(
            "SELECT pg_database_size(current_database())"
        )

        # The first settlement: every member climbs from registered at once (a tier change,
        # up to four gift packs and badges each: the most events a settlement ever writes).
        previous = periods.period_of_index(periods.period_index(period) - 1)
        meter = {"bench": lambda: [os.getpid()], "postgres": lambda: pids_named("postgres")}
        with CpuMeter(meter) as cpu, Clock() as clock:
            first = await app.usecases.settlements.run(pool, previous)
        results["first_settlement"] = {
            "period": previous,
            "members_settled": first["members_settled"],
            "seconds": round(clock.seconds, 2),
            "per_second": round(first["members_settled"] / clock.seconds, 1),
            "events": await pool.fetchval("SELECT count(*) FROM outbox"),
            "cpu_cores": cpu.cores,
            "workers": app.settings.settlement_workers,
        }
        await pool.execute("TRUNCATE outbox")  # published by the relay in production
        async with pool.acquire() as conn:
            await conn.execute("VACUUM ANALYZE")
        # The month after, as the job (or an operator) runs it: the steady state.
        with CpuMeter({"postgres": lambda: pids_named("postgres", "postmaster")}) as cpu:
            said, seconds, peak_kib = await settle_process(app.settings)
        results["settle"] = {
            "members_settled": said["settlement"]["members_settled"] if said["settlement"] else 0,
            "seconds": round(seconds, 2),
            "per_second": round(MEMBERS / seconds, 1),
            "peak_rss_mib": round(peak_kib / 1024, 1),
            "cpu_cores": cpu.cores,
            "batch": app.settings.settlement_batch,
            "note": "seconds include starting the process",
            "check": await settled_once(pool, period, MEMBERS),
        }

        bands = tuple(
            Band(b.tier, b.min_score * 3 // 4) if b.tier is not Tier.REGISTERED else b
            for b in DEFAULT_RULES.bands
        )
        candidate = dataclasses.replace(DEFAULT_RULES, version=2, bands=bands)
        await pool.execute(
            "INSERT INTO rule_sets (version, state, body, created_by) VALUES (2, 'draft', $1,"
            " 'bench')",
            rule_set_to_json(candidate),
        )
        async with pool.acquire() as conn:
            row = await app.usecases.rehearsals.begin(conn, 2, period, "bench")
        with (
            CpuMeter({"postgres": lambda: pids_named("postgres", "postmaster")}) as cpu,
            Clock() as clock,
        ):
            await app.usecases.rehearsals.run(pool, row["rehearsal_id"])
        done = await pool.fetchrow(
            "SELECT state, members, tiers FROM rehearsals WHERE rehearsal_id = $1",
            row["rehearsal_id"],
        )
        results["rehearse"] = {
            "state": done["state"],
            "members": done["members"],
            "seconds": round(clock.seconds, 2),
            "per_second": round(done["members"] / clock.seconds, 1),
            "cpu_cores": cpu.cores,
            "tiers": done["tiers"],
        }
        await ingest(stack, identity, results)
    results["pgbench"] = await asyncio.to_thread(pgbench_simple_update)
    write("growth", results)


if __name__ == "__main__":
    asyncio.run(main())
