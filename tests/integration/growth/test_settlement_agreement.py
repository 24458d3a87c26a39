"""The set-based settlement equals the reference implementation (`domain.settlement.
settle_member`) member for member, on random facts and random states before it: score,
components, tier, grace, risk gate, badges, gift packs, and every event's payload. Then the
same world settled by a run stopped half-way and resumed, and by two runs at once, gives the
same, each member settled and announced once."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import random
import uuid

import pytest

from loyalty.growth.v1 import events_pb2, resources_pb2
from services.growth.api.rules_wire import rule_set_to_json
from services.growth.domain import periods
from services.growth.domain.defaults import DEFAULT_RULES
from services.growth.domain.rules import (
    Component,
    DowngradePolicy,
    Limit,
    RuleSet,
    Tier,
    TierPolicy,
)
from services.growth.domain.settlement import Outcome, settle_member
from services.growth.store import facts as facts_store
from services.kit import events
from tests.support import growth_world

SETTLE = periods.settlement_instant("2026-10", growth_world.ZONE)
PERIOD = "2026-10"


def _variant(name: str) -> RuleSet:
    if name == "default":
        return dataclasses.replace(DEFAULT_RULES, version=2)
    if name == "never":
        return dataclasses.replace(
            DEFAULT_RULES, version=2, policy=TierPolicy(downgrade=DowngradePolicy.NEVER)
        )
    # grace of two months, a heavier activity weight under a lower cap, a stricter risk gate
    limits = tuple(
        Limit(x.component, 25_000, 300) if x.component is Component.ACTIVITY else x
        for x in DEFAULT_RULES.limits
    )
    return dataclasses.replace(
        DEFAULT_RULES,
        version=2,
        policy=TierPolicy(grace_months=2),
        limits=limits,
        risk=dataclasses.replace(DEFAULT_RULES.risk, threshold=500),
    )


async def _activate(app, rules: RuleSet) -> None:
    async with app.pool.acquire() as conn, conn.transaction():
        await conn.execute("UPDATE rule_sets SET state = 'retired' WHERE state = 'active'")
        await conn.execute(
            "INSERT INTO rule_sets (version, state, body, created_by) VALUES ($1, 'active', $2,"
            " 'test')",
            rules.version,
            rule_set_to_json(rules),
        )


async def _world(app, rules: RuleSet, seed: int, count: int):
    rng = random.Random(seed)
    members = [growth_world.member(rng, SETTLE, rules) for _ in range(count)]
    previous = {m.member_id: rng.randrange(0, 6000) for m in members}
    async with app.pool.acquire() as conn, conn.transaction():
        for m in members:
            await growth_world.store_member(conn, m, previous[m.member_id])
    outcomes = {
        m.member_id: settle_member(m.member_id, m.facts, rules, m.state, SETTLE, growth_world.ZONE)
        for m in members
    }
    return outcomes, previous


def _tier(tier: Tier) -> int:
    return resources_pb2.Tier.Value(f"TIER_{tier.name}")


def _expected_settled(out: Outcome, previous: int) -> events_pb2.GrowthScoreSettled:
    msg = events_pb2.GrowthScoreSettled(
        member_id=out.member_id,
        period=out.period,
        score=out.score.total,
        previous_score=previous,
        tier=_tier(out.tier),
        risk_gated=not out.passes_risk_gate,
        rule_set_version=out.ruleset_version,
    )
    msg.settle_time.FromDatetime(SETTLE)
    for c in out.score.components:
        msg.components.add(
            component=resources_pb2.Component.Value(f"COMPONENT_{c.component.name}"),
            value=c.value,
            cap=c.cap,
        )
    for b in out.badges:
        msg.badges.add(category=b.category, level=b.level)
    return msg


async def _events(app, type_) -> dict[str, list]:
    rows = await app.pool.fetch(
        "SELECT subject, payload FROM outbox WHERE event_type = $1", events.type_of(type_)
    )
    found: dict[str, list] = {}
    for r in rows:
        found.setdefault(r["subject"], []).append(events.parse_payload(r["payload"], type_))
    return found


async def _check(app, outcomes: dict[str, Outcome], previous: dict[str, int]) -> None:
    settled = await _events(app, events_pb2.GrowthScoreSettled)
    changed = await _events(app, events_pb2.GrowthTierChanged)
    gifts = await _events(app, events_pb2.GrowthGiftPackGranted)
    badges = await _events(app, events_pb2.GrowthBadgeAwarded)
    for member_id, out in outcomes.items():
        mid = uuid.UUID(member_id)
        row = await app.pool.fetchrow(
            "SELECT * FROM member_scores WHERE member_id = $1 AND period = $2", mid, PERIOD
        )
        assert row is not None, member_id
        got = [row[c.value] for c in Component]
        want = [out.score.component(c).value for c in Component]
        assert got == want, (member_id, out.score)
        assert (row["score"], row["tier_before"], row["tier"], row["months_below"]) == (
            out.score.total,
            out.tier_before.value,
            out.tier.value,
            out.state.tier.months_below,
        )
        assert row["risk_gated"] is (not out.passes_risk_gate)
        member = await app.pool.fetchrow("SELECT * FROM members WHERE member_id = $1", mid)
        assert (member["tier"], member["months_below"], member["settled_period"]) == (
            out.tier.value,
            out.state.tier.months_below,
            PERIOD,
        )
        held = await app.pool.fetch(
            "SELECT category, level FROM member_badges WHERE member_id = $1", mid
        )
        assert {r["category"]: r["level"] for r in held} == dict(out.state.badges)
        granted = await app.pool.fetch(
            "SELECT reference, points FROM gift_grants WHERE member_id = $1 AND period = $2",
            mid,
            PERIOD,
        )
        assert sorted((r["reference"], r["points"]) for r in granted) == sorted(
            (g.reference, g.points) for g in out.gifts
        )
        assert settled[member_id] == [_expected_settled(out, previous[member_id])]
        if out.change is None:
            assert member_id not in changed
        else:
            (event,) = changed[member_id]
            assert (event.previous_tier, event.tier, event.score) == (
                _tier(out.change.before),
                _tier(out.change.after),
                out.score.total,
            )
            assert event.reason == resources_pb2.TierChangeReason.Value(
                f"TIER_CHANGE_REASON_{out.change.reason.name}"
            )
        assert sorted(
            (g.reference, g.points, len(g.coupons)) for g in gifts.get(member_id, [])
        ) == sorted((g.reference, g.points, len(g.coupons)) for g in out.gifts)
        assert sorted((b.category, b.level) for b in badges.get(member_id, [])) == sorted(
            (b.category, b.level) for b in out.awarded
        )


@pytest.mark.parametrize(("variant", "seed"), [("default", 1), ("never", 2), ("grace", 3)])
async def test_the_sql_settlement_equals_the_reference(growth_db, variant, seed):
    app = growth_db
    rules = _variant(variant)
    await _activate(app, rules)
    outcomes, previous = await _world(app, rules, seed, 120)
    row = await app.usecases.settlements.run(app.pool, PERIOD, batch=17)
    assert (row["state"], row["members_settled"], row["rule_set_version"]) == (
        "completed",
        len(outcomes),
        2,
    )
    await _check(app, outcomes, previous)
    # the world reaches every branch worth comparing
    assert any(o.awarded for o in outcomes.values())
    assert any(not o.passes_risk_gate for o in outcomes.values())
    assert any(o.passes_risk_gate for o in outcomes.values())
    assert any(o.state.tier.months_below for o in outcomes.values()) or variant != "grace"
    assert any(o.score.component(Component.ACTIVITY).value for o in outcomes.values())
    ups = sum(1 for o in outcomes.values() if o.change and o.change.up)
    downs = sum(1 for o in outcomes.values() if o.change and not o.change.up)
    gifts = [g for o in outcomes.values() for g in o.gifts]
    assert ups and gifts and (downs or variant == "never")
    assert (row["tier_ups"], row["tier_downs"], row["gift_packs"], row["gift_points"]) == (
        ups,
        downs,
        len(gifts),
        sum(g.points for g in gifts),
    )


async def test_a_stopped_run_resumes_and_racing_runs_settle_each_member_once(growth_db):
    app = growth_db
    rules = _variant("grace")
    await _activate(app, rules)
    outcomes, previous = await _world(app, rules, 7, 90)
    stopped = await app.usecases.settlements.run(app.pool, PERIOD, batch=20, stop_after=2)
    assert (stopped["state"], stopped["members_settled"]) == ("running", 40)
    # a new version activated meanwhile does not change the period's rules
    await _activate(app, dataclasses.replace(DEFAULT_RULES, version=3))
    first, second = await asyncio.gather(
        app.usecases.settlements.run(app.pool, PERIOD, batch=7),
        app.usecases.settlements.run(app.pool, PERIOD, batch=11),
    )
    row = await app.usecases.settlements.run(app.pool, PERIOD)
    assert (row["state"], row["members_settled"], row["rule_set_version"]) == (
        "completed",
        90,
        2,
    )
    await _check(app, outcomes, previous)  # one event of each per member: no second settlement


async def test_only_members_registered_before_the_instant_and_not_closed_are_settled(growth_db):
    app = growth_db
    tick = dt.timedelta(microseconds=1)
    before, after, closed = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    async with app.pool.acquire() as conn, conn.transaction():
        await facts_store.member_seen(conn, before, SETTLE - tick)
        await facts_store.member_seen(conn, after, SETTLE)
        await facts_store.member_seen(conn, closed, SETTLE - tick)
        await facts_store.member_closed(conn, closed, SETTLE - tick)
    row = await app.usecases.settlements.run(app.pool, PERIOD)
    assert (row["state"], row["members_settled"]) == ("completed", 1)
    settled = await app.pool.fetch("SELECT member_id FROM member_scores WHERE period = $1", PERIOD)
    assert [r["member_id"] for r in settled] == [before]
