"""Rehearsals: a candidate rule set over the stored facts, counted set-based, equal to the
domain's comparison of the two reference settlements; changing nothing; one at a time."""

from __future__ import annotations

import dataclasses
import random
import uuid

import grpc

from loyalty.growth.v1 import growth_admin_service_pb2 as admin_pb
from loyalty.growth.v1 import resources_pb2 as res
from services.growth.api.rules_wire import rule_set_to_json
from services.growth.domain import periods
from services.growth.domain import rehearsal as domain
from services.growth.domain.defaults import DEFAULT_RULES
from services.growth.domain.rules import Band, Tier
from services.growth.domain.settlement import settle_member
from services.growth.store import rehearsals as store
from services.growth.usecases.rehearsals import figures
from tests.support import growth_world
from tests.support.grpc_errors import fails
from tests.support.ids import uid
from tests.support.waiting import wait_until

PERIOD = "2026-10"


def _candidate():
    """Lower bands (more members up) and a richer diamond pack."""
    bands = tuple(
        Band(b.tier, b.min_score * 3 // 4) if b.tier is not Tier.REGISTERED else b
        for b in DEFAULT_RULES.bands
    )
    packs = tuple(
        dataclasses.replace(p, points=p.points + 1000) if p.tier is Tier.DIAMOND else p
        for p in DEFAULT_RULES.gift_packs
    )
    return dataclasses.replace(DEFAULT_RULES, version=2, bands=bands, gift_packs=packs)


async def _draft(app, rules) -> None:
    await app.pool.execute(
        "INSERT INTO rule_sets (version, state, body, created_by) VALUES ($1, 'draft', $2, 'test')",
        rules.version,
        rule_set_to_json(rules),
    )


async def _world(app, rules, count: int, seed: int = 11):
    settle = periods.settlement_instant(PERIOD, growth_world.ZONE)
    rng = random.Random(seed)
    members = [growth_world.member(rng, settle, rules) for _ in range(count)]
    async with app.pool.acquire() as conn, conn.transaction():
        for m in members:
            await growth_world.store_member(conn, m, 0)
    return members, settle


async def _snapshot(app) -> tuple:
    return (
        await app.pool.fetch("SELECT * FROM members ORDER BY member_id"),
        await app.pool.fetchval("SELECT count(*) FROM member_scores"),
        await app.pool.fetchval("SELECT count(*) FROM gift_grants"),
        await app.pool.fetch("SELECT * FROM member_badges ORDER BY member_id, category"),
        await app.pool.fetchval("SELECT count(*) FROM outbox"),
    )


async def test_the_counted_rehearsal_equals_the_reference_comparison(growth_db, clock):
    app = growth_db
    candidate = _candidate()
    await _draft(app, candidate)
    members, settle = await _world(app, DEFAULT_RULES, 150)
    clock.set(settle)
    before = await _snapshot(app)
    async with app.pool.acquire() as conn:
        row = await app.usecases.rehearsals.begin(conn, 2, PERIOD, "test")
    await app.usecases.rehearsals.run(app.pool, row["rehearsal_id"], batch=23)
    row = await store.get(app.pool, row["rehearsal_id"])
    assert (row["state"], row["members"]) == ("completed", 150)
    want = domain.compare(
        [settle_member(m.member_id, m.facts, DEFAULT_RULES, m.state, settle) for m in members],
        [settle_member(m.member_id, m.facts, candidate, m.state, settle) for m in members],
    )
    got = figures(row, DEFAULT_RULES, candidate)
    assert got == want
    assert want.moved_up and want.candidate_gifts.points > want.baseline_gifts.points
    assert await _snapshot(app) == before  # nothing changed: no score, tier, pack or event


async def test_through_the_api_one_at_a_time(growth_db, admin, operator, clock, mint):
    app = growth_db
    await _draft(app, _candidate())
    _, settle = await _world(app, DEFAULT_RULES, 30, seed=5)
    clock.set(settle)
    # a rehearsal whose runner died (heartbeat long gone) does not block a new one
    async with app.pool.acquire() as conn:
        await store.insert(conn, uuid.uuid4(), 1, 1, PERIOD, "ops", settle.replace(year=2025))
    request = admin_pb.CreateRehearsalRequest(request_id=uid(), rule_set_version=2)
    created = (await admin.CreateRehearsal(request, metadata=operator)).rehearsal
    assert (created.state, created.period, created.baseline_rule_set_version) == (
        res.REHEARSAL_STATE_RUNNING,
        PERIOD,
        1,
    )
    replay = await admin.CreateRehearsal(request, metadata=operator)
    assert replay.rehearsal.rehearsal_id == created.rehearsal_id

    async def done() -> bool:
        got = await admin.GetRehearsal(
            admin_pb.GetRehearsalRequest(rehearsal_id=created.rehearsal_id), metadata=operator
        )
        return got.rehearsal.state == res.REHEARSAL_STATE_COMPLETED

    await wait_until(done, 20, "the rehearsal to complete")
    listed = await admin.ListRehearsals(
        admin_pb.ListRehearsalsRequest(page_size=1), metadata=operator
    )
    assert [r.rehearsal_id for r in listed.rehearsals] == [created.rehearsal_id]
    assert listed.next_page_token
    older = await admin.ListRehearsals(
        admin_pb.ListRehearsalsRequest(page_size=1, page_token=listed.next_page_token),
        metadata=operator,
    )
    assert older.rehearsals[0].state == res.REHEARSAL_STATE_FAILED
    assert older.rehearsals[0].failure_message == "stopped by a restart"
    got = listed.rehearsals[0]
    assert got.member_count == 30
    assert sum(t.members for t in got.baseline_tiers) == 30
    audit = await app.pool.fetchval(
        "SELECT count(*) FROM audit_log WHERE action = 'growth.rehearsal.create'"
    )
    assert audit == 1

    # a running one (live heartbeat) refuses a second, naming itself
    async with app.pool.acquire() as conn:
        running = await store.insert(conn, uuid.uuid4(), 2, 1, PERIOD, "ops", settle)
    await fails(
        admin.CreateRehearsal(
            admin_pb.CreateRehearsalRequest(request_id=uid(), rule_set_version=2),
            metadata=operator,
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
        "REHEARSAL_RUNNING",
    )
    assert running is not None
    # bad input, unknown version, a later period, missing scope: refused, nothing begun
    for bad, code, reason in [
        (dict(rule_set_version=0), grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT"),
        (dict(rule_set_version=2, period="2026-13"), grpc.StatusCode.INVALID_ARGUMENT, None),
        (dict(rule_set_version=9), grpc.StatusCode.NOT_FOUND, "RULE_SET_NOT_FOUND"),
    ]:
        await fails(
            admin.CreateRehearsal(
                admin_pb.CreateRehearsalRequest(request_id=uid(), **bad), metadata=operator
            ),
            code,
            reason,
        )
    await fails(
        admin.CreateRehearsal(
            admin_pb.CreateRehearsalRequest(request_id=uid(), rule_set_version=2),
            metadata=mint("m", kind="member"),
        ),
        grpc.StatusCode.PERMISSION_DENIED,
        "MISSING_SCOPE",
    )
    assert await app.pool.fetchval("SELECT count(*) FROM rehearsals") == 3
