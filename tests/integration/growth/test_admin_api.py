"""GrowthAdminService's rule sets and settlements through gRPC: versions uploaded as drafts (the
latest + 1, idempotent, audited), validated naming every bad field and storing nothing,
activated (the active one retired), read and listed; the settlement of the due period run in
the background from an operator's call, read while it runs and once completed, never twice."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import random
import uuid
from collections import Counter

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from loyalty.growth.v1 import growth_admin_service_pb2 as pb
from loyalty.growth.v1 import resources_pb2 as res
from services.growth import jobs
from services.growth.api.rules_wire import rule_set_to_proto
from services.growth.domain import periods
from services.growth.domain.defaults import DEFAULT_RULES
from services.growth.domain.rules import Tier
from services.growth.domain.settlement import settle_member
from services.growth.store import facts
from services.kit.jobs import run_locked
from tests.support import growth_world
from tests.support.grpc_errors import assert_error, fails
from tests.support.ids import uid
from tests.support.snapshots import snapshot
from tests.support.waiting import wait_until

ZONE = growth_world.ZONE
PERIOD = "2026-10"
SETTLE = periods.settlement_instant(PERIOD, ZONE)  # 2026-11-01 00:00 Shanghai
OPERATOR = "operator:ops-alice"
INVALID = grpc.StatusCode.INVALID_ARGUMENT
UNCHANGED = ("rule_sets", "settlements", "audit_log", "idempotency")


@pytest.fixture(autouse=True)
async def no_run_left(growth_app):
    """A settlement set off in the background ends before the next test empties the tables."""
    yield
    await growth_app.usecases.settlements.drain()


@pytest.fixture
def reader(mint):
    """A storefront's backend: reads only."""
    return mint("storefront-1", kind="service", scopes=["growth:read"])


def upload(description: str = "", **changes) -> res.RuleSet:
    """The default rules as an operator would upload them, with `changes` to the bands."""
    msg = rule_set_to_proto(DEFAULT_RULES, description=description)
    msg.version = 77  # ignored on input
    for index, min_score in changes.get("bands", {}).items():
        msg.bands[index].min_score = min_score
    return msg


def problems(error: pytest.ExceptionInfo | grpc.aio.AioRpcError) -> tuple[dict, dict[str, str]]:
    """(ErrorInfo metadata, {field: description}) of a failed call."""
    call = error.value if isinstance(error, pytest.ExceptionInfo) else error
    metadata: dict = {}
    fields: dict[str, str] = {}
    status = rpc_status.from_call(call)
    assert status is not None
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            metadata = dict(info.metadata)
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            fields = {v.field: v.description for v in bad.field_violations}
    return metadata, fields


async def create(admin, operator, description: str = "", **changes) -> res.RuleSet:
    made = await admin.CreateRuleSet(
        pb.CreateRuleSetRequest(request_id=uid(), rule_set=upload(description, **changes)),
        metadata=operator,
    )
    return made.rule_set


async def audit(pool, action: str, subject: str) -> list:
    return await pool.fetch(
        "SELECT actor, detail FROM audit_log WHERE action = $1 AND subject = $2 ORDER BY id",
        action,
        subject,
    )


# --- rule sets --------------------------------------------------------------------------------


async def test_an_upload_is_the_next_version_a_draft_audited_and_replayed(
    admin, operator, growth_db
):
    request = pb.CreateRuleSetRequest(
        request_id=uid(), rule_set=upload("silver lower", bands={2: 1800})
    )
    made = (await admin.CreateRuleSet(request, metadata=operator)).rule_set
    assert (made.version, made.state, made.description, made.created_by) == (
        2,
        res.RULE_SET_STATE_DRAFT,
        "silver lower",
        OPERATOR,
    )
    assert made.bands[2].min_score == 1800 and made.HasField("create_time")
    assert not made.HasField("activate_time") and made.activated_by == ""
    # the replay answers as the first call did and stores nothing more
    again = await admin.CreateRuleSet(request, metadata=operator)
    assert again.rule_set == made
    assert await growth_db.pool.fetchval("SELECT count(*) FROM rule_sets") == 2
    other = pb.CreateRuleSetRequest(request_id=request.request_id, rule_set=upload("other"))
    await fails(admin.CreateRuleSet(other, metadata=operator), INVALID, "REQUEST_ID_REUSED")
    (entry,) = await audit(growth_db.pool, "growth.rule_set.create", "rule_set:2")
    assert (entry["actor"], entry["detail"]) == (
        OPERATOR,
        {"version": 2, "description": "silver lower"},
    )
    read = await admin.GetRuleSet(pb.GetRuleSetRequest(version=2), metadata=operator)
    assert read.rule_set == made
    # uploads at once get consecutive versions
    many = await asyncio.gather(*(create(admin, operator, f"n{i}") for i in range(5)))
    assert sorted(m.version for m in many) == [3, 4, 5, 6, 7]


async def test_validate_answers_the_rule_set_as_stored_without_storing_it(
    admin, operator, reader, growth_db
):
    before = await snapshot(growth_db.pool, *UNCHANGED)
    given = upload("candidate")
    given.policy.Clear()  # policies left UNSPECIFIED are AT_SETTLEMENT
    shown = (
        await admin.ValidateRuleSet(pb.ValidateRuleSetRequest(rule_set=given), metadata=reader)
    ).rule_set
    assert (shown.version, shown.state, shown.description) == (
        0,
        res.RULE_SET_STATE_UNSPECIFIED,
        "candidate",
    )
    assert shown.policy.upgrade == res.UPGRADE_POLICY_AT_SETTLEMENT
    assert shown.policy.downgrade == res.DOWNGRADE_POLICY_AT_SETTLEMENT
    assert list(shown.bands) == list(upload().bands)
    assert await snapshot(growth_db.pool, *UNCHANGED) == before


def _overlapping() -> res.RuleSet:
    return upload(bands={2: 1000})  # silver where bronze begins


def _negative_weight() -> res.RuleSet:
    msg = upload()
    msg.limits[0].weight_bp = -1
    return msg


def _negative_cap() -> res.RuleSet:
    msg = upload()
    msg.limits[4].cap = -5
    return msg


@pytest.mark.parametrize(
    ("malformed", "reason", "fields"),
    [
        (_overlapping, "OVERLAPPING_BANDS", ["rule_set.bands[2].min_score"]),
        (_negative_weight, "NEGATIVE_WEIGHT", ["rule_set.limits[0].weight_bp"]),
        (_negative_cap, "NEGATIVE_CAP", ["rule_set.limits[4].cap"]),
    ],
)
async def test_a_malformed_rule_set_is_refused_naming_its_fields_and_nothing_is_stored(
    admin, operator, growth_db, malformed, reason, fields
):
    before = await snapshot(growth_db.pool, *UNCHANGED)
    for call in (
        admin.ValidateRuleSet(pb.ValidateRuleSetRequest(rule_set=malformed()), metadata=operator),
        admin.CreateRuleSet(
            pb.CreateRuleSetRequest(request_id=uid(), rule_set=malformed()), metadata=operator
        ),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await call
        assert_error(err, INVALID, reason)
        _, named = problems(err)
        assert list(named) == fields
        assert all(d.startswith(f"{reason}: ") for d in named.values()), named
    assert await snapshot(growth_db.pool, *UNCHANGED) == before


async def test_every_problem_is_named_at_once(admin, operator):
    msg = _overlapping()
    msg.limits[0].weight_bp = -1
    msg.description = "x" * 1025
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await admin.ValidateRuleSet(pb.ValidateRuleSetRequest(rule_set=msg), metadata=operator)
    _, named = problems(err)
    assert {
        "rule_set.description",
        "rule_set.limits[0].weight_bp",
        "rule_set.bands[2].min_score",
    } <= set(named)


async def test_activation_retires_the_active_version_and_may_go_back(admin, operator, growth_db):
    draft = await create(admin, operator, "v2")
    request = pb.ActivateRuleSetRequest(request_id=uid(), version=2, reason="spring campaign")
    done = await admin.ActivateRuleSet(request, metadata=operator)
    assert (done.retired_version, done.rule_set.state, done.rule_set.activated_by) == (
        1,
        res.RULE_SET_STATE_ACTIVE,
        OPERATOR,
    )
    assert done.rule_set.create_time == draft.create_time
    assert await admin.ActivateRuleSet(request, metadata=operator) == done  # a replay
    first = (await admin.GetRuleSet(pb.GetRuleSetRequest(version=1), metadata=operator)).rule_set
    assert (first.state, first.HasField("retire_time")) == (res.RULE_SET_STATE_RETIRED, True)
    active = (await admin.GetRuleSet(pb.GetRuleSetRequest(), metadata=operator)).rule_set
    assert active == done.rule_set
    assert await growth_db.usecases.rules.active(growth_db.pool) == dataclasses.replace(
        DEFAULT_RULES, version=2
    )
    (entry,) = await audit(growth_db.pool, "growth.rule_set.activate", "rule_set:2")
    assert (entry["actor"], entry["detail"]) == (
        OPERATOR,
        {"version": 2, "retired_version": 1, "reason": "spring campaign"},
    )
    # refusals, each changing nothing
    before = await snapshot(growth_db.pool, *UNCHANGED)
    again = pb.ActivateRuleSetRequest(request_id=uid(), version=2, reason="again")
    failure = await fails(
        admin.ActivateRuleSet(again, metadata=operator),
        grpc.StatusCode.FAILED_PRECONDITION,
        "RULE_SET_ALREADY_ACTIVE",
    )
    assert failure.message
    missing = pb.ActivateRuleSetRequest(request_id=uid(), version=99, reason="typo")
    await fails(
        admin.ActivateRuleSet(missing, metadata=operator),
        grpc.StatusCode.NOT_FOUND,
        "RULE_SET_NOT_FOUND",
    )
    for reason in ("", "   ", "r" * 513, "bad\x00reason"):
        no_reason = pb.ActivateRuleSetRequest(request_id=uid(), version=1, reason=reason)
        await fails(
            admin.ActivateRuleSet(no_reason, metadata=operator),
            INVALID,
            "REASON_REQUIRED",
            ["reason"],
        )
    await fails(
        admin.GetRuleSet(pb.GetRuleSetRequest(version=99), metadata=operator),
        grpc.StatusCode.NOT_FOUND,
        "RULE_SET_NOT_FOUND",
    )
    assert await snapshot(growth_db.pool, *UNCHANGED) == before
    # back to version 1 (RETIRED → ACTIVE)
    back = await admin.ActivateRuleSet(
        pb.ActivateRuleSetRequest(request_id=uid(), version=1, reason="roll back"),
        metadata=operator,
    )
    assert (back.retired_version, back.rule_set.state) == (2, res.RULE_SET_STATE_ACTIVE)
    assert not back.rule_set.HasField("retire_time")
    states = {
        r["version"]: r["state"]
        for r in await growth_db.pool.fetch("SELECT version, state FROM rule_sets")
    }
    assert states == {1: "active", 2: "retired"}


async def test_rule_sets_are_listed_newest_first_by_page_and_state(admin, operator, reader):
    for i in range(4):
        await create(admin, operator, f"draft {i}")  # versions 2..5
    await admin.ActivateRuleSet(
        pb.ActivateRuleSetRequest(request_id=uid(), version=3, reason="go"), metadata=operator
    )
    seen, token = [], ""
    while True:
        page = await admin.ListRuleSets(
            pb.ListRuleSetsRequest(page_size=2, page_token=token), metadata=reader
        )
        assert len(page.rule_sets) <= 2
        seen += [(r.version, r.state) for r in page.rule_sets]
        token = page.next_page_token
        if not token:
            break
    D, A, R = res.RULE_SET_STATE_DRAFT, res.RULE_SET_STATE_ACTIVE, res.RULE_SET_STATE_RETIRED
    assert seen == [(5, D), (4, D), (3, A), (2, D), (1, R)]
    drafts = await admin.ListRuleSets(
        pb.ListRuleSetsRequest(state=res.RULE_SET_STATE_DRAFT, page_size=2), metadata=reader
    )
    assert [r.version for r in drafts.rule_sets] == [5, 4]
    rest = await admin.ListRuleSets(
        pb.ListRuleSetsRequest(
            state=res.RULE_SET_STATE_DRAFT, page_size=2, page_token=drafts.next_page_token
        ),
        metadata=reader,
    )
    assert ([r.version for r in rest.rule_sets], rest.next_page_token) == ([2], "")
    # a token belongs to its query
    await fails(
        admin.ListRuleSets(
            pb.ListRuleSetsRequest(page_size=2, page_token=drafts.next_page_token),
            metadata=reader,
        ),
        INVALID,
        fields=["page_token"],
    )
    await fails(
        admin.ListRuleSets(
            pb.ListRuleSetsRequest(state=res.RuleSetState.ValueType(9)), metadata=reader
        ),
        INVALID,
        fields=["state"],
    )


async def test_callers_without_the_scope_and_members_are_refused(admin, mint, reader, growth_db):
    member = mint(str(uuid.uuid4()), scopes=["growth:admin", "growth:read"])
    before = await snapshot(growth_db.pool, *UNCHANGED)
    denied = grpc.StatusCode.PERMISSION_DENIED
    writes = [
        lambda who: admin.CreateRuleSet(
            pb.CreateRuleSetRequest(request_id=uid(), rule_set=upload()), metadata=who
        ),
        lambda who: admin.ActivateRuleSet(
            pb.ActivateRuleSetRequest(request_id=uid(), version=1, reason="r"), metadata=who
        ),
        lambda who: admin.RunSettlement(pb.RunSettlementRequest(request_id=uid()), metadata=who),
    ]
    reads = [
        lambda who: admin.ValidateRuleSet(
            pb.ValidateRuleSetRequest(rule_set=upload()), metadata=who
        ),
        lambda who: admin.GetRuleSet(pb.GetRuleSetRequest(), metadata=who),
        lambda who: admin.ListRuleSets(pb.ListRuleSetsRequest(), metadata=who),
        lambda who: admin.GetSettlement(pb.GetSettlementRequest(period=PERIOD), metadata=who),
        lambda who: admin.ListSettlements(pb.ListSettlementsRequest(), metadata=who),
    ]
    for call in writes + reads:
        await fails(call(member), denied, "MISSING_SCOPE")
        await fails(call(None), grpc.StatusCode.UNAUTHENTICATED)
    for call in writes:
        await fails(call(reader), denied, "MISSING_SCOPE")
    await reads[1](reader)
    await reads[4](reader)
    assert await snapshot(growth_db.pool, *UNCHANGED) == before


# --- settlements ------------------------------------------------------------------------------


async def _world(pool, count: int, seed: int = 5):
    """`count` registered members with random facts and states, a closed one and one never
    registered; the outcomes the domain gives each registered one."""
    rng = random.Random(seed)
    members = [growth_world.member(rng, SETTLE, DEFAULT_RULES) for _ in range(count)]
    async with pool.acquire() as conn, conn.transaction():
        for m in members:
            await growth_world.store_member(conn, m, rng.randrange(0, 6000))
        closed = uuid.uuid4()
        await facts.member_seen(conn, closed, dt.datetime(2024, 1, 1, tzinfo=dt.UTC))
        await facts.member_closed(conn, closed, dt.datetime(2026, 6, 1, tzinfo=dt.UTC))
        await conn.execute("INSERT INTO members (member_id) VALUES ($1)", uuid.uuid4())
    return [
        settle_member(m.member_id, m.facts, DEFAULT_RULES, m.state, SETTLE, ZONE) for m in members
    ]


async def _completed(admin, who, period: str = PERIOD) -> res.Settlement:
    async def done():
        found = await admin.GetSettlement(pb.GetSettlementRequest(period=period), metadata=who)
        return (
            found.settlement if found.settlement.state == res.SETTLEMENT_STATE_COMPLETED else None
        )

    return await wait_until(done, 30, f"the settlement of {period} to complete")


def _tier(tier: Tier) -> res.Tier.ValueType:
    return res.Tier.Value(f"TIER_{tier.name}")


async def test_an_operator_runs_the_due_settlement_in_the_background(
    admin, operator, reader, clock, growth_db
):
    outcomes = await _world(growth_db.pool, 60)
    clock.set(SETTLE + dt.timedelta(minutes=5))
    ran = (
        await admin.RunSettlement(
            pb.RunSettlementRequest(request_id=uid(), period=PERIOD), metadata=operator
        )
    ).settlement
    assert ran.state in (res.SETTLEMENT_STATE_RUNNING, res.SETTLEMENT_STATE_COMPLETED)
    assert (ran.period, ran.rule_set_version, ran.started_by, ran.run_count) == (
        PERIOD,
        1,
        OPERATOR,
        1,
    )
    assert ran.settle_time.ToDatetime(dt.UTC) == SETTLE
    window = periods.window_ending(SETTLE, ZONE)
    assert ran.window_start_time.ToDatetime(dt.UTC) == window.start
    assert ran.member_count == 60  # neither the closed member nor the unregistered one

    done = await _completed(admin, reader)
    assert (done.settled_count, done.member_count, done.run_count, done.started_by) == (
        60,
        60,
        1,
        OPERATOR,
    )
    assert done.HasField("complete_time") and done.HasField("start_time")
    after = Counter(o.tier for o in outcomes)
    assert [(t.tier, t.members) for t in done.tiers] == [(_tier(t), after[t]) for t in Tier]
    moved = Counter((o.tier_before, o.tier) for o in outcomes if o.tier_before is not o.tier)
    assert moved, "the world moves some members"
    assert {(m.from_tier, m.to_tier): m.members for m in done.moves} == {
        (_tier(a), _tier(b)): n for (a, b), n in moved.items()
    }
    ranks = [(m.from_tier, m.to_tier) for m in done.moves]
    assert ranks == sorted(ranks)
    grants = [g for o in outcomes for g in o.gifts]
    coupons: Counter[str] = Counter()
    for g in grants:
        for c in g.coupons:
            coupons[c.code] += c.quantity
    assert grants, "the world grants gift packs"
    assert (done.gifts.grants, done.gifts.points, done.gifts.currency_code) == (
        len(grants),
        sum(g.points for g in grants),
        "CNY",
    )
    assert [(c.code, c.quantity) for c in done.gifts.coupons] == sorted(coupons.items())
    assert done.gifts.coupon_value_minor == sum(
        c.quantity * c.value_minor for g in grants for c in g.coupons
    )
    assert done.badges_awarded == sum(len(o.awarded) for o in outcomes)

    # audited: the operator's call, and the run it set off
    (request,) = await audit(growth_db.pool, "growth.settlement.run", f"settlement:{PERIOD}")
    assert (request["actor"], request["detail"]["began"]) == (OPERATOR, True)
    (run,) = await audit(growth_db.pool, "growth.settlement.run_begun", f"settlement:{PERIOD}")
    assert run["actor"] == OPERATOR

    # a completed period is never settled again; another period is not due
    before = await snapshot(growth_db.pool, *UNCHANGED)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await admin.RunSettlement(pb.RunSettlementRequest(request_id=uid()), metadata=operator)
    assert (err.value.code(), problems(err)[0]) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        {"period": PERIOD},
    )
    await fails(
        admin.RunSettlement(pb.RunSettlementRequest(request_id=uid()), metadata=operator),
        reason="SETTLEMENT_COMPLETED",
    )
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await admin.RunSettlement(
            pb.RunSettlementRequest(request_id=uid(), period="2026-09"), metadata=operator
        )
    assert problems(err)[0] == {"due_period": PERIOD}
    await fails(
        admin.RunSettlement(
            pb.RunSettlementRequest(request_id=uid(), period="2026-11"), metadata=operator
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
        "PERIOD_NOT_DUE",
    )
    for bad in ("2026-13", "2026-1", "26-10", "2026-10 ", "2026-10-01"):
        await fails(
            admin.RunSettlement(
                pb.RunSettlementRequest(request_id=uid(), period=bad), metadata=operator
            ),
            INVALID,
            "INVALID_ARGUMENT",
            ["period"],
        )
    assert await snapshot(growth_db.pool, *UNCHANGED) == before

    listed = await admin.ListSettlements(pb.ListSettlementsRequest(), metadata=reader)
    (shown,) = listed.settlements
    assert (shown.period, shown.state, shown.settled_count, shown.gifts.grants) == (
        PERIOD,
        res.SETTLEMENT_STATE_COMPLETED,
        60,
        len(grants),
    )
    assert listed.next_page_token == ""


async def test_a_stopped_settlement_is_resumed_by_the_call(admin, operator, clock, growth_db):
    await _world(growth_db.pool, 30, seed=9)
    clock.set(SETTLE + dt.timedelta(hours=3))
    # the job began it and stopped half-way (a deploy)
    stopped = await growth_db.usecases.settlements.run(growth_db.pool, batch=10, stop_after=1)
    assert (stopped["state"], stopped["members_settled"]) == ("running", 10)
    request = pb.RunSettlementRequest(request_id=uid())
    ran = (await admin.RunSettlement(request, metadata=operator)).settlement
    assert (ran.started_by, ran.member_count) == ("system", 30)
    assert ran.settled_count >= 10
    done = await _completed(admin, operator)
    assert (done.settled_count, done.run_count, done.started_by) == (30, 2, "system")
    (entry,) = await audit(growth_db.pool, "growth.settlement.run", f"settlement:{PERIOD}")
    assert (entry["actor"], entry["detail"]["began"]) == (OPERATOR, False)
    # a replay answers the first response as stored: the settlement as the call found it
    replayed = (await admin.RunSettlement(request, metadata=operator)).settlement
    assert (replayed.state, replayed.settled_count) == (res.SETTLEMENT_STATE_RUNNING, 10)
    runs = await audit(growth_db.pool, "growth.settlement.run_begun", f"settlement:{PERIOD}")
    assert [r["actor"] for r in runs] == ["system", OPERATOR]  # the replay set nothing off


async def test_the_call_leaves_the_run_to_a_replica_s_job_holding_the_lock(
    admin, operator, clock, growth_db
):
    await _world(growth_db.pool, 12, seed=3)
    clock.set(SETTLE + dt.timedelta(minutes=1))
    job = jobs.settlement_job(growth_db.usecases)
    async with growth_db.pool.acquire() as held:
        # another replica's job runs (holds the lock): the call's run is skipped
        await held.execute("SELECT pg_advisory_lock(hashtext($1))", f"job:{job.name}")
        try:
            ran = await admin.RunSettlement(
                pb.RunSettlementRequest(request_id=uid()), metadata=operator
            )
        finally:
            await held.execute("SELECT pg_advisory_unlock(hashtext($1))", f"job:{job.name}")
    await growth_db.usecases.settlements.drain()
    assert (ran.settlement.state, ran.settlement.settled_count) == (
        res.SETTLEMENT_STATE_RUNNING,
        0,
    )
    assert (ran.settlement.started_by, ran.settlement.member_count) == (OPERATOR, 12)
    # the job's next tick settles it
    assert await run_locked(growth_db.pool, job)
    done = await _completed(admin, operator)
    assert (done.settled_count, done.run_count, done.started_by) == (12, 1, OPERATOR)
    (run,) = await audit(growth_db.pool, "growth.settlement.run_begun", f"settlement:{PERIOD}")
    assert run["actor"] == "system"


async def test_a_call_cancelled_by_its_deadline_does_not_stop_the_run(
    admin, operator, clock, growth_db
):
    await _world(growth_db.pool, 8, seed=4)
    clock.set(SETTLE + dt.timedelta(minutes=1))
    async with growth_db.pool.acquire() as held, held.transaction():
        # the members locked (as by a provisional upgrade): the run waits for them
        await held.execute("SELECT member_id FROM members FOR UPDATE")
        await fails(
            admin.RunSettlement(
                pb.RunSettlementRequest(request_id=uid()), metadata=operator, timeout=0.3
            ),
            grpc.StatusCode.DEADLINE_EXCEEDED,
        )
        await asyncio.sleep(0.3)  # the server's side of the call is cancelled meanwhile
        row = await growth_db.pool.fetchrow(
            "SELECT state, members_settled FROM settlements WHERE period = $1", PERIOD
        )
        assert (row["state"], row["members_settled"]) == ("running", 0)
    done = await _completed(admin, operator)
    assert (done.settled_count, done.run_count) == (8, 1)


async def test_settlements_are_read_and_listed_newest_first(admin, operator, clock, growth_db):
    await fails(
        admin.GetSettlement(pb.GetSettlementRequest(period=PERIOD), metadata=operator),
        grpc.StatusCode.NOT_FOUND,
        "SETTLEMENT_NOT_FOUND",
    )
    for bad in ("", "2026-00", "october"):
        await fails(
            admin.GetSettlement(pb.GetSettlementRequest(period=bad), metadata=operator),
            INVALID,
            fields=["period"],
        )
    months = ["2026-07", "2026-08", "2026-09", "2026-10"]
    for month in months:
        clock.set(periods.settlement_instant(month, ZONE) + dt.timedelta(seconds=1))
        await admin.RunSettlement(pb.RunSettlementRequest(request_id=uid()), metadata=operator)
        await _completed(admin, operator, month)
    seen, token = [], ""
    while True:
        page = await admin.ListSettlements(
            pb.ListSettlementsRequest(page_size=3, page_token=token), metadata=operator
        )
        seen += [s.period for s in page.settlements]
        token = page.next_page_token
        if not token:
            break
    assert seen == list(reversed(months))
    await fails(
        admin.ListSettlements(pb.ListSettlementsRequest(page_token="nonsense"), metadata=operator),
        INVALID,
        fields=["page_token"],
    )
    await fails(
        admin.ListSettlements(pb.ListSettlementsRequest(page_size=-1), metadata=operator),
        INVALID,
        fields=["page_size"],
    )
