"""The monthly settlement's rules as a member lives them: events in over the real broker, the
settlement run at its instant, the effects in growth's tables and on the bus, and, for the
upgrade gift packs, in points' balances. The window is whole business days of Shanghai, not
UTC's; tiers rise at a settlement and fall only after the grace (never under `never`); a late
refund lowers the next settlement, not the past one; a pack's points are paid once whatever
the re-runs, redeliveries and racing runs; a run stopped half-way resumes without settling
anyone twice."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import uuid

import pytest

from loyalty.growth.v1 import events_pb2 as growth_events
from loyalty.growth.v1 import resources_pb2 as gres
from loyalty.points.v1 import points_service_pb2 as ppb
from loyalty.points.v1 import points_service_pb2_grpc
from services.growth.api.rules_wire import rule_set_to_json
from services.growth.domain import periods
from services.growth.domain.defaults import DEFAULT_RULES
from services.growth.domain.rules import Component, DowngradePolicy, RuleSet, TierPolicy, capped
from services.growth.domain.score import consumption_points
from services.kit import events
from services.points.app import PointsApp
from tests.support import growth_events as ev
from tests.support import harness, servers
from tests.support.ids import uid
from tests.support.waiting import wait_until

UTC = dt.UTC
SETTLED = events.type_of(growth_events.GrowthScoreSettled)
CHANGED = events.type_of(growth_events.GrowthTierChanged)
GIFT = events.type_of(growth_events.GrowthGiftPackGranted)
JOINED = dt.datetime(2025, 1, 2, tzinfo=UTC)  # every member's registration
YUAN = 100
BRONZE_ORDER = 2_000 * YUAN  # alone: spend 1,000 + 1 order 25 + 1 category 50 = 1,075, bronze
SILVER_ORDER = 10_000 * YUAN  # alone: 2,500 + 25 + 50 = 2,575, silver


@pytest.fixture
def send(publish, producers, published):
    """`await send(event, event_id=None)`: publish as the event's own publisher."""
    return ev.Sender(publish, producers, published)


def consumption(net_minor: int, orders: int, categories: int) -> int:
    """The default rule set's consumption component for these window figures."""
    parts = consumption_points(DEFAULT_RULES, net_minor, orders, categories, 0)
    return capped(sum(p.points for p in parts), DEFAULT_RULES.limit(Component.CONSUMPTION))


async def activate(app, rules: RuleSet) -> None:
    """`rules` the active rule set (as an operator's activation leaves it)."""
    async with app.pool.acquire() as conn, conn.transaction():
        await conn.execute("UPDATE rule_sets SET state = 'retired' WHERE state = 'active'")
        await conn.execute(
            "INSERT INTO rule_sets (version, state, body, created_by) VALUES ($1, 'active', $2,"
            " 'test')",
            rules.version,
            rule_set_to_json(rules),
        )


async def settle(app, clock, period: str, **options):
    """The settlement of `period` run at its instant, as the job would; its row."""
    clock.set(periods.settlement_instant(period))
    row = await app.usecases.settlements.run(app.pool, **options)
    assert row["period"] == period
    return row


async def join(send, consumed, *members: str) -> None:
    for m in members:
        await send(ev.registered(m, JOINED))
    await consumed(ev.REGISTERED, len(members))


async def scores(app, period: str) -> dict[str, dict]:
    rows = await app.pool.fetch("SELECT * FROM member_scores WHERE period = $1", period)
    return {str(r["member_id"]): dict(r) for r in rows}


async def member(app, m: str) -> dict:
    row = await app.pool.fetchrow("SELECT * FROM members WHERE member_id = $1", uuid.UUID(m))
    return dict(row)


async def published_rows(app, type_: str, subject: str | None = None) -> list:
    """The outbox rows of a type (and subject), once the relay has published every one."""

    async def relayed():
        rows = await app.pool.fetch(
            "SELECT subject, payload, published_at FROM outbox WHERE event_type = $1"
            " AND ($2::text IS NULL OR subject = $2)",
            type_,
            subject,
        )
        return rows if all(r["published_at"] is not None for r in rows) else None

    return await wait_until(relayed, 10, f"the relay to publish every {type_}")


async def test_the_window_is_twelve_whole_months_of_the_business_zone(
    growth_db, send, consumed, clock
):
    app = growth_db
    last_day, first_instant, day_before, next_month = (uid() for _ in range(4))
    await join(send, consumed, last_day, first_instant, day_before, next_month)
    oct_settle = periods.settlement_instant("2026-10")  # 2026-10-31T16:00Z, 1 Nov 00:00 local
    assert oct_settle == dt.datetime(2026, 10, 31, 16, tzinfo=UTC)
    orders = {
        # 31 Oct 23:59:59 in Shanghai: the window's last local day
        last_day: dt.datetime(2026, 10, 31, 15, 59, 59, tzinfo=UTC),
        # 1 Nov 2025 00:00 in Shanghai: the window's first instant
        first_instant: dt.datetime(2025, 10, 31, 16, tzinfo=UTC),
        # 31 Oct 2025 at noon in Shanghai: the day before the window
        day_before: dt.datetime(2025, 10, 31, 4, tzinfo=UTC),
        # 31 Oct in UTC but 1 Nov 00:30 in Shanghai: November's
        next_month: dt.datetime(2026, 10, 31, 16, 30, tzinfo=UTC),
    }
    for m, at in orders.items():
        await send(ev.paid(m, f"o-{m[:8]}", at, [("l1", "books", BRONZE_ORDER)]))
    # Photo reviews (30 each, at most 50 a business month) on both sides of local midnight:
    # October's in Shanghai, though all four are October's in UTC.
    for i, at in enumerate(
        [
            dt.datetime(2026, 10, 31, 15, 0, tzinfo=UTC),
            dt.datetime(2026, 10, 31, 15, 30, tzinfo=UTC),
            dt.datetime(2026, 10, 31, 16, 10, tzinfo=UTC),
            dt.datetime(2026, 10, 31, 16, 40, tzinfo=UTC),
        ]
    ):
        await send(ev.reviewed(next_month, f"rv-{i}", at, photos=True))
    await consumed(ev.PAID, 4)
    await consumed(ev.REVIEWED, 4)

    one_order = consumption(BRONZE_ORDER, 1, 1)
    row = await settle(app, clock, "2026-10")
    assert (row["state"], row["members_settled"]) == ("completed", 4)
    october = await scores(app, "2026-10")
    assert {m: s["consumption"] for m, s in october.items()} == {
        last_day: one_order,
        first_instant: one_order,
        day_before: 0,
        next_month: 0,
    }
    assert october[next_month]["activity"] == 50  # the two October (local) reviews, capped
    assert october[last_day]["tier"] == "bronze" and october[day_before]["tier"] == "registered"

    row = await settle(app, clock, "2026-11")
    assert (row["state"], row["members_settled"]) == ("completed", 4)
    november = await scores(app, "2026-11")
    assert {m: s["consumption"] for m, s in november.items()} == {
        last_day: one_order,
        first_instant: 0,  # 1 Nov 2025 left the window starting 1 Dec 2025
        day_before: 0,
        next_month: one_order,
    }
    # Two business months of reviews, each capped on its own: UTC months would give 50.
    assert november[next_month]["activity"] == 100


TIER = {
    "registered": gres.TIER_REGISTERED,
    "bronze": gres.TIER_BRONZE,
    "silver": gres.TIER_SILVER,
}
UP, DOWN = gres.TIER_CHANGE_REASON_SETTLED_UP, gres.TIER_CHANGE_REASON_SETTLED_DOWN
PERIODS = ("2026-08", "2026-09", "2026-10", "2026-11", "2026-12")
# policy → (tier and grace used after each settlement of PERIODS, the tier changes published)
DOWNGRADES = {
    "at once": (
        DEFAULT_RULES,
        [("silver", 0), ("registered", 0), ("registered", 0), ("registered", 0), ("registered", 0)],
        [("2026-08", "registered", "silver", UP), ("2026-09", "silver", "registered", DOWN)],
    ),
    "after two months of grace": (
        dataclasses.replace(DEFAULT_RULES, version=2, policy=TierPolicy(grace_months=2)),
        [("silver", 0), ("silver", 1), ("silver", 2), ("registered", 0), ("registered", 0)],
        [("2026-08", "registered", "silver", UP), ("2026-11", "silver", "registered", DOWN)],
    ),
    "never": (
        dataclasses.replace(
            DEFAULT_RULES, version=2, policy=TierPolicy(downgrade=DowngradePolicy.NEVER)
        ),
        [("silver", 0)] * 5,
        [("2026-08", "registered", "silver", UP)],
    ),
}


@pytest.mark.parametrize(
    ("rules", "held", "changes"), list(DOWNGRADES.values()), ids=list(DOWNGRADES)
)
async def test_a_tier_rises_at_a_settlement_and_falls_only_as_the_policy_says(
    growth_db, send, consumed, clock, tap, rules, held, changes
):
    app = growth_db
    if rules.version != 1:
        await activate(app, rules)
    m = uid()
    await join(send, consumed, m)
    await send(
        ev.paid(m, "o-1", dt.datetime(2026, 8, 10, tzinfo=UTC), [("l1", "books", SILVER_ORDER)])
    )
    await consumed(ev.PAID)
    assert (await member(app, m))["tier"] == "registered"  # the order alone raises nothing
    found = []
    for period in PERIODS:
        if period == "2026-09":
            # The whole order refunded after August's settlement: every later score is 0.
            refund_at = dt.datetime(2026, 9, 5, tzinfo=UTC)
            clock.set(refund_at)
            await send(ev.refunded(m, "o-1", "rf-1", refund_at, [("l1", SILVER_ORDER)]))
            await consumed(ev.REFUNDED)
        await settle(app, clock, period)
        state = await member(app, m)
        score = (await scores(app, period))[m]
        assert (score["tier"], score["months_below"]) == (state["tier"], state["months_below"])
        found.append((state["tier"], state["months_below"]))
    assert found == held

    rows = await published_rows(app, CHANGED, m)
    assert len(rows) == len(changes)
    received = await tap.wait_for(CHANGED, m, count=len(changes))
    want = [(p, TIER[a], TIER[b], reason) for p, a, b, reason in changes]
    for messages in (
        [events.parse_payload(r["payload"], growth_events.GrowthTierChanged) for r in rows],
        [events.parse_payload(e.data, growth_events.GrowthTierChanged) for e in received],
    ):
        got = sorted((x.period, x.previous_tier, x.tier, x.reason) for x in messages)
        assert got == want
        assert {x.rule_set_version for x in messages} == {rules.version}
    assert len(tap.envelopes(CHANGED, m)) == len(changes)


async def test_a_refund_after_a_settlement_lowers_the_next_one_not_the_past_one(
    growth_db, send, consumed, clock
):
    app = growth_db
    m = uid()
    await join(send, consumed, m)
    lines = [("l1", "books", 300_000), ("l2", "toys", 100_000)]
    await send(ev.paid(m, "o-1", dt.datetime(2026, 9, 10, tzinfo=UTC), lines))
    await consumed(ev.PAID)
    await settle(app, clock, "2026-09")
    september = (await scores(app, "2026-09"))[m]
    assert september["consumption"] == consumption(400_000, 1, 2)

    # Delivered after September's settlement: a refund dated in September, one in October.
    clock.set(dt.datetime(2026, 10, 3, 12, tzinfo=UTC))
    await send(
        ev.refunded(m, "o-1", "rf-1", dt.datetime(2026, 9, 20, tzinfo=UTC), [("l2", 50_000)])
    )
    await send(
        ev.refunded(m, "o-1", "rf-2", dt.datetime(2026, 10, 3, tzinfo=UTC), [("l1", 200_000)])
    )
    await consumed(ev.REFUNDED, 2)
    again = await app.usecases.settlements.run(app.pool, "2026-09")  # completed: changes nothing
    assert again["state"] == "completed"
    await settle(app, clock, "2026-10")
    assert (await scores(app, "2026-09"))[m] == september
    october = (await scores(app, "2026-10"))[m]
    assert october["consumption"] == consumption(150_000, 1, 2)
    assert (await member(app, m))["score"] == october["score"] < september["score"]


# --- the gift packs, paid by points ----------------------------------------------------------


@pytest.fixture(scope="module")
async def points_app(identity_app, amqp):
    """Points beside growth, on a database and queues of its own: it consumes identity's
    registrations and growth's gift packs from the run's exchange."""
    async with harness.running(
        PointsApp,
        amqp,
        identity=identity_app,
        schedule=False,
        database_url=servers.database_url("points_growth"),
    ) as app:
        yield app


async def test_a_gift_pack_is_paid_once_whatever_the_runs_and_redeliveries(
    growth_db, points_app, send, publish, published, consumed, clock, tap, mint
):
    app = growth_db
    points = harness.stub(points_app, points_service_pb2_grpc.PointsServiceStub)
    reader = mint("ops-growth", kind="operator", scopes=["points:read"])
    points_consumed = harness.consumed_by(points_app, published)

    async def available(m: str) -> int:
        response = await points.GetBalance(ppb.GetBalanceRequest(member_id=m), metadata=reader)
        return response.balance.available

    bronze, silver, plain = [uid() for _ in range(4)], [uid() for _ in range(3)], uid()
    members = [*bronze, *silver, plain]
    await join(send, consumed, *members)
    await points_consumed(ev.REGISTERED, len(members))  # points knows them: packs are paid
    before = {m: await available(m) for m in members}
    paid_at = dt.datetime(2026, 10, 10, tzinfo=UTC)
    for m in bronze:
        await send(ev.paid(m, f"o-{m[:8]}", paid_at, [("l1", "books", BRONZE_ORDER)]))
    for m in silver:
        await send(ev.paid(m, f"o-{m[:8]}", paid_at, [("l1", "books", SILVER_ORDER)]))
    await consumed(ev.PAID, len(bronze) + len(silver))
    packs = {p.tier.value: p.points for p in DEFAULT_RULES.gift_packs}
    expected = {m: packs["bronze"] for m in bronze}
    expected |= {m: packs["bronze"] + packs["silver"] for m in silver}  # every tier reached
    expected[plain] = 0
    grants = len(bronze) + 2 * len(silver)

    # Two runs at once, in small chunks: they race for the same members.
    clock.set(periods.settlement_instant("2026-10"))
    first, second = await asyncio.gather(
        app.usecases.settlements.run(app.pool, batch=2),
        app.usecases.settlements.run(app.pool, batch=3),
    )
    row = await app.usecases.settlements.run(app.pool)  # and once more: nothing left
    assert (row["state"], row["members_settled"]) == ("completed", len(members))
    assert (row["gift_packs"], row["gift_points"]) == (grants, sum(expected.values()))
    gifts = [
        events.parse_payload(r["payload"], growth_events.GrowthGiftPackGranted)
        for r in await published_rows(app, GIFT)
    ]
    assert sorted((g.member_id, g.points) for g in gifts) == sorted(
        [(m, packs["bronze"]) for m in bronze + silver] + [(m, packs["silver"]) for m in silver]
    )
    for m in bronze + silver:
        await tap.wait_for(GIFT, m, count=1 if m in bronze else 2)

    async def all_credited() -> bool:
        found = await points_app.pool.fetchval(
            "SELECT count(*) FROM inbox WHERE event_type = $1", GIFT
        )
        return found >= grants

    await wait_until(all_credited, 10, "points to apply every gift pack")
    assert {m: await available(m) - before[m] for m in members} == expected

    # The same grant re-published by growth's user under a new event id: credits nothing.
    (one,) = [g for g in gifts if g.member_id == silver[0] and g.tier == gres.TIER_SILVER]
    await publish(GIFT, silver[0], one)
    await points_consumed(GIFT)
    assert {m: await available(m) - before[m] for m in members} == expected
    assert await app.pool.fetchval("SELECT count(*) FROM gift_grants") == grants


async def test_a_run_stopped_half_way_resumes_and_settles_each_member_once(
    growth_db, send, consumed, clock, tap
):
    app = growth_db
    members = [uid() for _ in range(7)]
    await join(send, consumed, *members)
    for m in members[:3]:
        paid_at = dt.datetime(2026, 10, 10, tzinfo=UTC)
        await send(ev.paid(m, f"o-{m[:8]}", paid_at, [("l1", "books", BRONZE_ORDER)]))
    await consumed(ev.PAID, 3)
    stopped = await settle(app, clock, "2026-10", batch=3, stop_after=1)  # cut short
    assert (stopped["state"], stopped["members_settled"]) == ("running", 3)
    row = await settle(app, clock, "2026-10", batch=2)  # resumed
    assert (row["state"], row["members_settled"]) == ("completed", 7)
    again = await settle(app, clock, "2026-10")
    assert again["members_settled"] == 7
    for m in members:
        assert len(await published_rows(app, SETTLED, m)) == 1
        (received,) = await tap.wait_for(SETTLED, m)
        assert events.parse_payload(received.data, growth_events.GrowthScoreSettled).period == (
            "2026-10"
        )
    assert {m: len(tap.envelopes(SETTLED, m)) for m in members} == dict.fromkeys(members, 1)
    assert len(await scores(app, "2026-10")) == 7
