"""GrowthService through gRPC: a member's growth after a settlement (tier, score, components,
badges, benefits after the risk gate), who may read it, the explanation of a settled and a
provisional score with its advice, the provisional score raising the tier once under upgrade
IMMEDIATE (and never under the default), the score history and the facts paged, the tier
table. Members and facts are stored through growth's store (ingestion has its own tests)."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import uuid

import grpc
import pytest

from loyalty.growth.v1 import events_pb2
from loyalty.growth.v1 import growth_service_pb2 as pb
from loyalty.growth.v1 import resources_pb2 as res
from services.growth.api.rules_wire import rule_set_to_json
from services.growth.domain import facts as f
from services.growth.domain import periods
from services.growth.domain.advice import advice, advice_text
from services.growth.domain.defaults import DEFAULT_RULES
from services.growth.domain.rules import Component, RuleSet, Tier, TierPolicy, UpgradePolicy
from services.growth.domain.score import Score, score
from services.growth.store import facts as store
from services.kit import events
from tests.support.grpc_errors import fails
from tests.support.ids import uid

ZONE = "Asia/Shanghai"
SH = dt.timezone(dt.timedelta(hours=8))  # Asia/Shanghai has no daylight saving
REGISTERED = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
CATEGORIES = ("books", "phones", "food", "toys", "pets")
FULL_PROFILE = frozenset({"nickname", "gender", "birthday", "region"})
NOT_FOUND, FAILED = grpc.StatusCode.NOT_FOUND, grpc.StatusCode.FAILED_PRECONDITION
DENIED, INVALID = grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.INVALID_ARGUMENT


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    """An instant in Shanghai wall time, as UTC."""
    return dt.datetime(year, month, day, hour, minute, tzinfo=SH).astimezone(dt.UTC)


SETTLE = periods.settlement_instant("2026-10", ZONE)  # 2026-11-01 00:00 in Shanghai
MID_NOVEMBER = at(2026, 11, 15, 10)


def tier(t: Tier) -> int:
    return res.Tier.Value(f"TIER_{t.name}")


def component(c: Component) -> int:
    return res.Component.Value(f"COMPONENT_{c.name}")


def shopper(m: str, *, yuan: int = 20_000, reputation: int | None = 90) -> list[f.Fact]:
    """Verified with a full profile (400), five reviews in May (50), `yuan` CNY in 20 orders
    over five categories from February to August 2026, four orders of each (a level 1 badge
    each), and a reputation assessment (90: 450)."""
    facts: list[f.Fact] = [
        f.Verified(m, "v1", at(2025, 3, 1)),
        f.ProfileSnapshot(m, "p1", at(2025, 3, 1), FULL_PROFILE),
    ]
    each = yuan * 100 // 20
    for i in range(20):
        line = f.OrderLine("l0", CATEGORIES[i % 5], each)
        facts.append(f.OrderPaid(m, f"o{i}", at(2026, 2 + i % 7, 10 + i // 7), "CNY", (line,)))
    facts += [f.Activity(m, f"a{i}", at(2026, 5, 3 + i), f.ActivityKind.REVIEW) for i in range(5)]
    if reputation is not None:
        facts.append(f.ReputationAssessed(m, "q1", at(2026, 6, 1), reputation))
    return facts


async def register(app, facts_of, *, closed: bool = False, registered: bool = True) -> str:
    m = uid()
    member_id = uuid.UUID(m)
    async with app.pool.acquire() as conn, conn.transaction():
        if registered:
            await store.member_seen(conn, member_id, REGISTERED)
        for fact in facts_of(m):
            await store.record(conn, fact)
        if closed:
            await store.member_closed(conn, member_id, at(2026, 9, 1))
    return m


async def settle(app, clock, period: str) -> None:
    clock.set(periods.settlement_instant(period, ZONE) + dt.timedelta(minutes=5))
    row = await app.usecases.settlements.run(app.pool, period)
    assert row["state"] == "completed"


def expected(facts: list[f.Fact], when: dt.datetime, rules: RuleSet = DEFAULT_RULES):
    return score(f.FactBook.of(facts), rules, when, ZONE)


def values(s: Score) -> list[tuple[int, int, int]]:
    return [(component(c.component), c.value, c.cap) for c in s.components]


async def activate(app, rules: RuleSet) -> None:
    async with app.pool.acquire() as conn, conn.transaction():
        await conn.execute("UPDATE rule_sets SET state = 'retired' WHERE state = 'active'")
        await conn.execute(
            "INSERT INTO rule_sets (version, state, body, created_by, activated_at)"
            " VALUES ($1, 'active', $2, 'test', now())",
            rules.version,
            rule_set_to_json(rules),
        )


async def outbox(app, type_) -> list:
    rows = await app.pool.fetch(
        "SELECT payload FROM outbox WHERE event_type = $1 ORDER BY created_at, id",
        events.type_of(type_),
    )
    return [events.parse_payload(r["payload"], type_) for r in rows]


@pytest.fixture
def reader(mint):
    """A storefront's backend."""
    return mint("storefront", kind="service", scopes=["growth:read"])


# --- GetMemberGrowth ---------------------------------------------------------------------------
async def test_a_settled_member_reads_tier_score_components_badges_and_benefits(
    growth, growth_db, clock, mint, reader
):
    m = await register(growth_db, shopper)
    await settle(growth_db, clock, "2026-10")
    want = expected(shopper(m), SETTLE)
    assert want.total == 4_473  # 400 + 3,000 + 363 + 210 + 50 + 450

    for token in (mint(m), reader):
        got = (
            await growth.GetMemberGrowth(pb.GetMemberGrowthRequest(member_id=m), metadata=token)
        ).growth
        assert (got.member_id, got.tier, got.score, got.period) == (
            m,
            res.TIER_GOLD,
            4_473,
            "2026-10",
        )
        assert [(c.component, c.value, c.cap) for c in got.components] == values(want)
        assert [(b.category, b.level) for b in got.badges] == [(c, 1) for c in sorted(CATEGORIES)]
        assert (got.next_tier, got.next_tier_min_score) == (res.TIER_DIAMOND, 5_000)
        assert (got.rule_set_version, got.months_below, got.risk_gated) == (1, 0, False)
        assert got.tier_time.ToDatetime(dt.UTC) == SETTLE
        assert got.update_time.ToDatetime(dt.UTC) >= SETTLE
        assert not got.gated_benefit_codes
    codes = [(b.benefit.code, b.source, b.source_detail) for b in got.benefits]
    # by kind (price, logistics, service), then code; the larger quantity of a code wins
    assert codes == [
        ("birthday_gift", res.BENEFIT_SOURCE_TIER, "silver"),
        *[(f"{c}_coupon", res.BENEFIT_SOURCE_BADGE, f"{c}:1") for c in sorted(CATEGORIES)[:2]],
        ("member_price", res.BENEFIT_SOURCE_TIER, "bronze"),
        ("monthly_coupons", res.BENEFIT_SOURCE_TIER, "gold"),
        *[(f"{c}_coupon", res.BENEFIT_SOURCE_BADGE, f"{c}:1") for c in sorted(CATEGORIES)[2:]],
        ("free_return_pickup", res.BENEFIT_SOURCE_TIER, "gold"),
        ("free_shipping", res.BENEFIT_SOURCE_TIER, "gold"),
        ("flash_refund", res.BENEFIT_SOURCE_TIER, "gold"),
        ("priority_line", res.BENEFIT_SOURCE_TIER, "silver"),
    ]
    shipping = next(b.benefit for b in got.benefits if b.benefit.code == "free_shipping")
    assert (shipping.kind, shipping.monthly_quantity, shipping.high_cost) == (
        res.BENEFIT_KIND_LOGISTICS,
        5,
        False,
    )


async def test_before_any_settlement_the_member_is_registered_with_nothing_settled(
    growth, growth_db, mint
):
    m = await register(growth_db, shopper)
    got = (
        await growth.GetMemberGrowth(pb.GetMemberGrowthRequest(member_id=m), metadata=mint(m))
    ).growth
    assert (got.tier, got.score, got.period, got.rule_set_version) == (
        res.TIER_REGISTERED,
        0,
        "",
        0,
    )
    assert not got.components and not got.badges and not got.benefits
    assert got.risk_gated  # no settled standing vouches for the member yet
    assert got.tier_time.ToDatetime(dt.UTC) == REGISTERED
    assert (got.next_tier, got.next_tier_min_score) == (res.TIER_BRONZE, 1_000)


async def test_the_risk_gate_removes_high_cost_benefits_whatever_the_score(
    growth, growth_db, clock, reader
):
    # 200,000 CNY and no assessment: diamond, and a risk standing of 0
    m = await register(growth_db, lambda m: shopper(m, yuan=200_000, reputation=None))
    await settle(growth_db, clock, "2026-10")
    got = (
        await growth.GetMemberGrowth(pb.GetMemberGrowthRequest(member_id=m), metadata=reader)
    ).growth
    assert (got.tier, got.risk_gated) == (res.TIER_DIAMOND, True)
    assert got.score == expected(shopper(m, yuan=200_000, reputation=None), SETTLE).total
    assert list(got.gated_benefit_codes) == [
        "flash_refund",
        "free_return_pickup",
        "replace_not_repair",
    ]
    kept = {b.benefit.code for b in got.benefits}
    assert not kept & set(got.gated_benefit_codes)
    assert {"priority_line", "free_shipping", "member_price", "books_coupon"} <= kept
    assert all(not b.benefit.high_cost for b in got.benefits)
    assert (got.next_tier, got.next_tier_min_score) == (res.TIER_UNSPECIFIED, 0)


# --- who may read ----------------------------------------------------------------------------
def _calls(growth, m: str):
    """Each member RPC about `m`, as a function of the call's metadata."""
    requests = {
        "GetMemberGrowth": lambda: pb.GetMemberGrowthRequest(member_id=m),
        "ExplainScore": lambda: pb.ExplainScoreRequest(member_id=m),
        "ComputeProvisionalScore": lambda: pb.ComputeProvisionalScoreRequest(
            request_id=uid(), member_id=m
        ),
        "ListScoreHistory": lambda: pb.ListScoreHistoryRequest(member_id=m),
        "ListMemberFacts": lambda: pb.ListMemberFactsRequest(member_id=m),
    }

    def call(method, make):
        return lambda metadata: getattr(growth, method)(make(), metadata=metadata)

    return [call(method, make) for method, make in requests.items()]


async def test_unknown_closed_and_foreign_members_and_missing_scopes_are_refused(
    growth, growth_db, mint, reader
):
    closed = await register(growth_db, shopper, closed=True)
    unregistered = await register(growth_db, shopper, registered=False)  # facts, no member yet
    unknown = uid()
    known = await register(growth_db, shopper)
    before = await growth_db.pool.fetchval("SELECT count(*) FROM members")
    for who in (unknown, unregistered):
        for call in _calls(growth, who):
            await fails(call(reader), NOT_FOUND, "MEMBER_NOT_FOUND")
            await fails(call(mint(who)), NOT_FOUND, "MEMBER_NOT_FOUND")
    for call in _calls(growth, closed):
        await fails(call(reader), FAILED, "MEMBER_CLOSED")
    no_scope = mint("other-backend", kind="service", scopes=["points:read"])
    for call in _calls(growth, known):
        await fails(call(mint(uid())), DENIED, "NOT_OWNER")
        await fails(call(no_scope), DENIED, "MISSING_SCOPE")
        await fails(call(()), grpc.StatusCode.UNAUTHENTICATED)
    for call in _calls(growth, "not-a-uuid"):
        await fails(call(reader), INVALID, fields=["member_id"])
    assert await growth_db.pool.fetchval("SELECT count(*) FROM members") == before
    assert await growth_db.pool.fetchval("SELECT count(*) FROM idempotency") == 0
    # the admin scope reads too
    admin_token = mint("ops", kind="operator", scopes=["growth:admin"])
    await growth.GetMemberGrowth(pb.GetMemberGrowthRequest(member_id=known), metadata=admin_token)


# --- ExplainScore ----------------------------------------------------------------------------
def _check_explanation(got: res.ScoreExplanation, want: Score, rules: RuleSet) -> None:
    assert got.score == want.total
    assert got.window_start_time.ToDatetime(dt.UTC) == want.window.start
    assert got.window_end_time.ToDatetime(dt.UTC) == want.window.end
    assert got.risk_standing == want.risk_standing
    assert got.earliest_counted_time.ToDatetime(dt.UTC) == want.earliest_counted
    for g, w in zip(got.components, want.components, strict=True):
        limit = rules.limit(w.component)
        assert (g.component, g.value, g.raw, g.cap, g.weight_bp) == (
            component(w.component),
            w.value,
            w.raw,
            w.cap,
            limit.weight_bp,
        )
        assert [(p.name, p.input, p.points) for p in g.parts] == [
            (p.name, p.input, p.points) for p in w.parts
        ]
        assert sorted(x.key for x in g.facts) == sorted(w.facts)
        assert all(x.HasField("record_time") for x in g.facts)
    assert [(c.category, c.net_minor, c.orders) for c in got.categories] == [
        (c.category, c.net_minor, c.orders) for c in want.categories
    ]


async def test_explain_a_settled_score_by_period_and_the_latest_with_advice(
    growth, growth_db, clock, mint
):
    m = await register(growth_db, lambda m: shopper(m, yuan=6_000))
    own = mint(m)
    await settle(growth_db, clock, "2026-09")
    await settle(growth_db, clock, "2026-10")
    facts = shopper(m, yuan=6_000)
    for period, request in (
        ("2026-10", pb.ExplainScoreRequest(member_id=m)),
        ("2026-09", pb.ExplainScoreRequest(member_id=m, period="2026-09")),
    ):
        settled = periods.settlement_instant(period, ZONE)
        got = (await growth.ExplainScore(request, metadata=own)).explanation
        want = expected(facts, settled)
        assert (got.member_id, got.provisional, got.period, got.rule_set_version) == (
            m,
            False,
            period,
            1,
        )
        _check_explanation(got, want, DEFAULT_RULES)
        assert (got.score, got.score_tier) == (3_223, res.TIER_SILVER)
        consumption = got.components[1]
        # by kind, then date: o0 on 10 Feb, o7 on 11 Feb
        assert [x.key for x in consumption.facts][:2] == ["order_paid:o0", "order_paid:o7"]
        order = consumption.facts[0]
        assert (order.kind, order.currency_code, order.lines[0].amount_minor) == (
            res.FACT_KIND_ORDER_PAID,
            "CNY",
            30_000,
        )
        hint = advice(f.FactBook.of(facts), DEFAULT_RULES, settled, ZONE)
        assert hint is not None and hint.extra_spend_minor is not None
        a = got.advice
        assert (a.target_tier, a.points_short, a.extra_spend_minor, a.months) == (
            res.TIER_GOLD,
            hint.points_short,
            hint.extra_spend_minor,
            hint.months,
        )
        assert a.deadline_time.ToDatetime(dt.UTC) == hint.deadline
        assert [(o.action, o.points) for o in a.one_offs] == [("link_account", 50)]
        assert a.text == advice_text(hint) and a.text.startswith("spend ")


async def test_explain_the_provisional_score_now_under_the_active_rules(
    growth, growth_db, clock, reader
):
    m = await register(growth_db, shopper)
    clock.set(MID_NOVEMBER)
    got = (
        await growth.ExplainScore(
            pb.ExplainScoreRequest(member_id=m, provisional=True), metadata=reader
        )
    ).explanation
    want = expected(shopper(m), MID_NOVEMBER)
    assert (got.provisional, got.period, got.rule_set_version, got.score_tier) == (
        True,
        "",
        1,
        res.TIER_GOLD,
    )
    _check_explanation(got, want, DEFAULT_RULES)
    assert got.window_end_time.ToDatetime(dt.UTC) == MID_NOVEMBER
    assert got.advice.target_tier == res.TIER_DIAMOND
    assert (got.risk_gated, got.risk_standing) == (False, 450)


async def test_explain_refuses_bad_periods_and_settlements_that_do_not_exist(
    growth, growth_db, clock, reader
):
    m = await register(growth_db, shopper)
    await fails(
        growth.ExplainScore(pb.ExplainScoreRequest(member_id=m), metadata=reader),
        NOT_FOUND,
        "SETTLEMENT_NOT_FOUND",
    )
    for period in ("2026-13", "2026-1", "26-10", "2026-10\x00", "x" * 5000):
        await fails(
            growth.ExplainScore(
                pb.ExplainScoreRequest(member_id=m, period=period), metadata=reader
            ),
            INVALID,
            "INVALID_ARGUMENT",
            ["period"],
        )
    await fails(
        growth.ExplainScore(
            pb.ExplainScoreRequest(member_id=m, period="2026-10", provisional=True),
            metadata=reader,
        ),
        INVALID,
        "INVALID_ARGUMENT",
        ["period"],
    )
    await settle(growth_db, clock, "2026-10")
    await fails(
        growth.ExplainScore(pb.ExplainScoreRequest(member_id=m, period="2026-08"), metadata=reader),
        NOT_FOUND,
        "SETTLEMENT_NOT_FOUND",
    )


async def test_a_settled_explanation_keeps_the_rule_set_its_settlement_used(
    growth, growth_db, clock, reader
):
    m = await register(growth_db, shopper)
    await settle(growth_db, clock, "2026-10")
    # a later version weighs consumption at half: the settled explanation does not change
    halved = dataclasses.replace(
        DEFAULT_RULES,
        version=2,
        limits=tuple(
            dataclasses.replace(x, weight_bp=5_000) if x.component is Component.CONSUMPTION else x
            for x in DEFAULT_RULES.limits
        ),
    )
    await activate(growth_db, halved)
    settled = (
        await growth.ExplainScore(pb.ExplainScoreRequest(member_id=m), metadata=reader)
    ).explanation
    assert (settled.rule_set_version, settled.score) == (1, 4_473)
    now = (
        await growth.ExplainScore(
            pb.ExplainScoreRequest(member_id=m, provisional=True), metadata=reader
        )
    ).explanation
    want = expected(shopper(m), clock.now(), halved)
    assert (now.rule_set_version, now.score) == (2, want.total)
    assert now.components[1].weight_bp == 5_000


# --- ComputeProvisionalScore -----------------------------------------------------------------
async def _state(app, m: str) -> tuple:
    member_id = uuid.UUID(m)
    member = await app.pool.fetchrow(
        "SELECT tier, months_below, score FROM members WHERE member_id = $1", member_id
    )
    grants = await app.pool.fetch(
        "SELECT reference, tier, period, points, coupons, rule_set_version FROM gift_grants"
        " WHERE member_id = $1 ORDER BY reference",
        member_id,
    )
    outbox_rows = await app.pool.fetchval("SELECT count(*) FROM outbox WHERE subject = $1", m)
    return tuple(member), [tuple(g) for g in grants], outbox_rows


async def test_a_provisional_score_changes_nothing_under_the_default_policy(
    growth, growth_db, clock, mint, reader
):
    m = await register(growth_db, shopper)
    clock.set(MID_NOVEMBER)
    before = await _state(growth_db, m)
    request = pb.ComputeProvisionalScoreRequest(request_id=uid(), member_id=m)
    got = (await growth.ComputeProvisionalScore(request, metadata=mint(m))).score
    want = expected(shopper(m), MID_NOVEMBER)
    assert (got.member_id, got.score, got.score_tier, got.tier, got.tier_raised) == (
        m,
        want.total,
        res.TIER_GOLD,
        res.TIER_REGISTERED,
        False,
    )
    assert [(c.component, c.value, c.cap) for c in got.components] == values(want)
    assert (got.rule_set_version, got.risk_gated) == (1, False)
    assert got.compute_time.ToDatetime(dt.UTC) == MID_NOVEMBER
    assert got.window_start_time.ToDatetime(dt.UTC) == want.window.start
    assert await _state(growth_db, m) == before
    # a replay answers the first score, even once the facts changed
    async with growth_db.pool.acquire() as conn:
        await store.record(conn, f.Verified(m, "v-late", at(2026, 11, 1)))
        await store.record(
            conn,
            f.OrderPaid(m, "o-late", at(2026, 11, 2), "CNY", (f.OrderLine("l0", "books", 10**6),)),
        )
    again = (await growth.ComputeProvisionalScore(request, metadata=mint(m))).score
    assert again == got
    fresh = pb.ComputeProvisionalScoreRequest(request_id=uid(), member_id=m)
    assert (await growth.ComputeProvisionalScore(fresh, metadata=mint(m))).score.score > got.score
    # the same id with another request is refused, changing nothing
    other = await register(growth_db, shopper)
    await fails(
        growth.ComputeProvisionalScore(
            pb.ComputeProvisionalScoreRequest(request_id=request.request_id, member_id=other),
            metadata=mint(m),
        ),
        DENIED,
        "NOT_OWNER",
    )
    reused = pb.ComputeProvisionalScoreRequest(request_id=fresh.request_id, member_id=other)
    await growth.ComputeProvisionalScore(fresh, metadata=reader)  # the storefront's own id
    await fails(
        growth.ComputeProvisionalScore(reused, metadata=reader), INVALID, "REQUEST_ID_REUSED"
    )


async def test_under_immediate_a_higher_score_raises_the_tier_once_with_its_gift_packs(
    growth, growth_db, clock, mint, reader
):
    immediate = dataclasses.replace(
        DEFAULT_RULES, version=2, policy=TierPolicy(upgrade=UpgradePolicy.IMMEDIATE)
    )
    await activate(growth_db, immediate)
    m = await register(growth_db, shopper)
    clock.set(MID_NOVEMBER)
    want = expected(shopper(m), MID_NOVEMBER, immediate)
    requests = [pb.ComputeProvisionalScoreRequest(request_id=uid(), member_id=m) for _ in range(4)]
    answers = await asyncio.gather(
        *(growth.ComputeProvisionalScore(r, metadata=mint(m)) for r in requests),
        growth.ComputeProvisionalScore(requests[0], metadata=mint(m)),  # the same id at once
    )
    scores = [a.score for a in answers]
    assert all(
        (s.score, s.score_tier, s.tier) == (want.total, res.TIER_GOLD, res.TIER_GOLD)
        for s in scores
    )
    assert sum(s.tier_raised for s in scores[:4]) == 1
    assert scores[4] == scores[0]  # the replay of the first id
    # and once more, later: nothing more to raise
    later = pb.ComputeProvisionalScoreRequest(request_id=uid(), member_id=m)
    assert not (await growth.ComputeProvisionalScore(later, metadata=reader)).score.tier_raised

    member, grants, _ = await _state(growth_db, m)
    assert member[:2] == ("gold", 0)
    assert [(g[0], g[1], g[2], g[3], g[5]) for g in grants] == [
        (f"growth:tier_upgrade:{m}:{t}:2026-11", t, "2026-11", points, 2)
        for t, points in (("bronze", 200), ("gold", 1_000), ("silver", 500))
    ]
    (changed,) = await outbox(growth_db, events_pb2.GrowthTierChanged)
    assert (
        changed.member_id,
        changed.previous_tier,
        changed.tier,
        changed.reason,
        changed.period,
        changed.score,
        changed.rule_set_version,
    ) == (
        m,
        res.TIER_REGISTERED,
        res.TIER_GOLD,
        res.TIER_CHANGE_REASON_PROVISIONAL_UP,
        "2026-11",
        want.total,
        2,
    )
    assert changed.changed_time.ToDatetime(dt.UTC) == MID_NOVEMBER
    gifts = await outbox(growth_db, events_pb2.GrowthGiftPackGranted)
    assert [(g.tier, g.points, g.period, g.currency_code, g.rule_set_version) for g in gifts] == [
        (res.TIER_BRONZE, 200, "2026-11", "CNY", 2),
        (res.TIER_SILVER, 500, "2026-11", "CNY", 2),
        (res.TIER_GOLD, 1_000, "2026-11", "CNY", 2),
    ]
    assert [g.reference for g in gifts] == [
        f"growth:tier_upgrade:{m}:{t}:2026-11" for t in ("bronze", "silver", "gold")
    ]
    assert [(c.code, c.quantity, c.value_minor) for c in gifts[2].coupons] == [
        ("upgrade_coupon_20", 3, 2_000)
    ]
    assert all(g.granted_time.ToDatetime(dt.UTC) == MID_NOVEMBER for g in gifts)
    # the member's growth shows the tier from the moment it was raised
    got = (
        await growth.GetMemberGrowth(pb.GetMemberGrowthRequest(member_id=m), metadata=reader)
    ).growth
    assert (got.tier, got.tier_time.ToDatetime(dt.UTC)) == (res.TIER_GOLD, MID_NOVEMBER)
    assert got.period == ""  # nothing settled yet


async def test_under_immediate_a_score_in_the_held_tier_or_below_changes_nothing(
    growth, growth_db, clock, reader
):
    immediate = dataclasses.replace(
        DEFAULT_RULES, version=2, policy=TierPolicy(upgrade=UpgradePolicy.IMMEDIATE)
    )
    await activate(growth_db, immediate)
    m = await register(growth_db, shopper)
    await growth_db.pool.execute(
        "UPDATE members SET tier = 'diamond' WHERE member_id = $1", uuid.UUID(m)
    )
    clock.set(MID_NOVEMBER)
    before = await _state(growth_db, m)
    request = pb.ComputeProvisionalScoreRequest(request_id=uid(), member_id=m)
    got = (await growth.ComputeProvisionalScore(request, metadata=reader)).score
    assert (got.score_tier, got.tier, got.tier_raised) == (res.TIER_GOLD, res.TIER_DIAMOND, False)
    assert await _state(growth_db, m) == before


async def test_under_immediate_a_raise_waits_while_the_due_settlement_has_not_settled_the_member(
    growth, growth_db, clock, reader
):
    # The settlement of October starts from the state before it: a tier raised after its
    # instant would be taken for that state.
    immediate = dataclasses.replace(
        DEFAULT_RULES, version=2, policy=TierPolicy(upgrade=UpgradePolicy.IMMEDIATE)
    )
    await activate(growth_db, immediate)
    m = await register(growth_db, shopper)
    clock.set(SETTLE + dt.timedelta(minutes=5))
    begun = await growth_db.usecases.settlements.run(growth_db.pool, "2026-10", stop_after=0)
    assert begun["state"] == "running"

    async def compute() -> res.ProvisionalScore:
        request = pb.ComputeProvisionalScoreRequest(request_id=uid(), member_id=m)
        return (await growth.ComputeProvisionalScore(request, metadata=reader)).score

    held = await compute()
    assert (held.score_tier, held.tier, held.tier_raised) == (
        res.TIER_GOLD,
        res.TIER_REGISTERED,
        False,
    )
    assert await growth_db.pool.fetchval("SELECT count(*) FROM outbox") == 0
    await settle(growth_db, clock, "2026-10")
    (changed,) = await outbox(growth_db, events_pb2.GrowthTierChanged)
    assert (changed.reason, changed.period) == (res.TIER_CHANGE_REASON_SETTLED_UP, "2026-10")
    after = await compute()
    assert (after.tier, after.tier_raised) == (res.TIER_GOLD, False)
    assert len(await outbox(growth_db, events_pb2.GrowthTierChanged)) == 1


# --- ListScoreHistory ------------------------------------------------------------------------
async def test_the_score_history_pages_newest_first(growth, growth_db, clock, mint, reader):
    m = await register(growth_db, shopper)
    for period in ("2026-07", "2026-08", "2026-09", "2026-10"):
        await settle(growth_db, clock, period)
    own = mint(m)
    first = await growth.ListScoreHistory(
        pb.ListScoreHistoryRequest(member_id=m, page_size=3), metadata=own
    )
    assert [s.period for s in first.scores] == ["2026-10", "2026-09", "2026-08"]
    assert first.next_page_token
    second = await growth.ListScoreHistory(
        pb.ListScoreHistoryRequest(member_id=m, page_size=3, page_token=first.next_page_token),
        metadata=own,
    )
    assert [s.period for s in second.scores] == ["2026-07"]
    assert second.next_page_token == ""
    everything = [*first.scores, *second.scores]
    tiers = []
    for s in everything:
        settled = periods.settlement_instant(s.period, ZONE)
        want = expected(shopper(m), settled)
        assert (s.member_id, s.score, s.rule_set_version, s.risk_gated) == (
            m,
            want.total,
            1,
            False,
        )
        assert s.settle_time.ToDatetime(dt.UTC) == settled
        assert [(c.component, c.value, c.cap) for c in s.components] == values(want)
        tiers.append((s.previous_tier, s.tier))
    assert tiers[-1][0] == res.TIER_REGISTERED  # the first settlement
    assert all(
        after == before_next
        for (_, after), (before_next, _) in zip(tiers[1:], tiers[:-1], strict=True)
    )
    # July's window holds orders up to July: fewer in each category than October's
    july, october = everything[-1], everything[0]
    assert [(b.category, b.level) for b in october.badges] == [(c, 1) for c in sorted(CATEGORIES)]
    assert len(july.badges) <= len(october.badges) and july.score < october.score
    # one page of all, the default size
    whole = await growth.ListScoreHistory(pb.ListScoreHistoryRequest(member_id=m), metadata=reader)
    assert list(whole.scores) == everything and whole.next_page_token == ""
    # a token is bound to its member; garbage is refused
    other = await register(growth_db, shopper)
    for token in (first.next_page_token, "garbage"):
        await fails(
            growth.ListScoreHistory(
                pb.ListScoreHistoryRequest(member_id=other, page_token=token), metadata=reader
            ),
            INVALID,
            fields=["page_token"],
        )
    await fails(
        growth.ListScoreHistory(
            pb.ListScoreHistoryRequest(member_id=m, page_size=-1), metadata=reader
        ),
        INVALID,
        fields=["page_size"],
    )


# --- ListMemberFacts -------------------------------------------------------------------------
T0, T1, T2, T3, T4 = (
    at(2026, 1, 5),
    at(2026, 3, 1),
    at(2026, 3, 9),
    at(2026, 4, 2),
    at(2026, 5, 7),
)


def assorted(m: str) -> list[f.Fact]:
    paid = f.OrderPaid(
        m,
        "o-1",
        T1,
        "CNY",
        (f.OrderLine("l1", "books", 30_000), f.OrderLine("l2", "food", 5_000)),
        10_000,
    )
    return [
        f.Verified(m, "ev-v", T0),
        f.AccountLinked(m, "ev-l", T0, "wechat"),
        f.ProfileSnapshot(m, "ev-p", T0, frozenset({"region", "nickname"})),
        paid,
        f.OrderRefunded(m, "r-1", T2, "o-1", "CNY", (f.RefundLine("l2", 5_000),)),
        *[f.Activity(m, f"rv-{i}", T3, f.ActivityKind.PHOTO_REVIEW) for i in range(3)],
        f.ReputationAssessed(m, "ev-q", T4, 88),
        f.CreditReported(m, "ev-c", T4, 120),
    ]


async def _all_pages(growth, token, **request) -> list[res.Fact]:
    found: list[res.Fact] = []
    page_token = ""
    while True:
        page = await growth.ListMemberFacts(
            pb.ListMemberFactsRequest(page_token=page_token, **request), metadata=token
        )
        assert len(page.facts) <= request.get("page_size", 50)
        found += page.facts
        page_token = page.next_page_token
        if not page_token:
            return found


async def test_facts_page_newest_first_and_filter_by_kind_and_time(growth, growth_db, mint):
    m = await register(growth_db, assorted)
    own = mint(m)
    facts = assorted(m)
    newest_first = [
        x.key for x in sorted(facts, key=lambda x: (x.occurred_at, x.key), reverse=True)
    ]
    got = await _all_pages(growth, own, member_id=m, page_size=3)
    assert [x.key for x in got] == newest_first
    assert all(x.member_id == m and x.HasField("record_time") for x in got)
    by_key = {x.key: x for x in got}
    order = by_key["order_paid:o-1"]
    assert (order.kind, order.source_id, order.currency_code, order.platform_paid_minor) == (
        res.FACT_KIND_ORDER_PAID,
        "o-1",
        "CNY",
        10_000,
    )
    assert [(x.line_id, x.category, x.amount_minor) for x in order.lines] == [
        ("l1", "books", 30_000),
        ("l2", "food", 5_000),
    ]
    assert order.occur_time.ToDatetime(dt.UTC) == T1
    refund = by_key["order_refunded:r-1"]
    assert (refund.kind, refund.order_id, [(x.line_id, x.amount_minor) for x in refund.lines]) == (
        res.FACT_KIND_ORDER_REFUNDED,
        "o-1",
        [("l2", 5_000)],
    )
    assert by_key["activity:rv-0"].activity == res.ACTIVITY_KIND_PHOTO_REVIEW
    assert by_key["account_linked:ev-l"].provider == "wechat"
    assert list(by_key["profile:ev-p"].filled_fields) == ["nickname", "region"]
    assert by_key["reputation_assessed:ev-q"].score == 88
    assert by_key["credit_reported:ev-c"].kind == res.FACT_KIND_CREDIT_REPORTED
    assert by_key["credit_reported:ev-c"].score == 120

    activities = await _all_pages(
        growth, own, member_id=m, page_size=2, kind=res.FACT_KIND_ACTIVITY
    )
    assert [x.key for x in activities] == ["activity:rv-2", "activity:rv-1", "activity:rv-0"]
    after, before = T1.timestamp(), T3.timestamp()
    span = pb.ListMemberFactsRequest(member_id=m)
    span.occur_after.FromSeconds(int(after))
    span.occur_before.FromSeconds(int(before))
    page = await growth.ListMemberFacts(span, metadata=own)
    assert [x.key for x in page.facts] == ["order_refunded:r-1", "order_paid:o-1"]
    span.kind = res.FACT_KIND_ORDER_PAID
    page = await growth.ListMemberFacts(span, metadata=own)
    assert [x.key for x in page.facts] == ["order_paid:o-1"]

    # a token is bound to its filters; the bounds must make a span
    first = await growth.ListMemberFacts(
        pb.ListMemberFactsRequest(member_id=m, page_size=2), metadata=own
    )
    await fails(
        growth.ListMemberFacts(
            pb.ListMemberFactsRequest(
                member_id=m,
                page_size=2,
                page_token=first.next_page_token,
                kind=res.FACT_KIND_ACTIVITY,
            ),
            metadata=own,
        ),
        INVALID,
        fields=["page_token"],
    )
    wrong = pb.ListMemberFactsRequest(member_id=m, kind=res.FactKind.ValueType(99))
    wrong.occur_after.FromSeconds(int(before))
    wrong.occur_before.FromSeconds(int(before))
    await fails(
        growth.ListMemberFacts(wrong, metadata=own), INVALID, fields=["kind", "occur_after"]
    )


# --- GetTierTable ----------------------------------------------------------------------------
async def test_the_tier_table_shows_bands_benefits_packs_and_badges(growth, growth_db, mint):
    table = (await growth.GetTierTable(pb.GetTierTableRequest(), metadata=mint(uid()))).table
    assert (table.rule_set_version, table.currency) == (1, "CNY")
    assert [(t.tier, t.min_score, t.next_min_score) for t in table.tiers] == [
        (res.TIER_REGISTERED, 0, 1_000),
        (res.TIER_BRONZE, 1_000, 2_000),
        (res.TIER_SILVER, 2_000, 3_500),
        (res.TIER_GOLD, 3_500, 5_000),
        (res.TIER_DIAMOND, 5_000, 0),
    ]
    registered, bronze, _, gold, _ = table.tiers
    assert not registered.benefits and not registered.HasField("gift_pack")
    assert [b.code for b in bronze.benefits] == ["member_price", "free_shipping"]
    assert {b.code: b.monthly_quantity for b in gold.benefits}["free_shipping"] == 5
    assert {b.code for b in gold.benefits if b.high_cost} == {"flash_refund", "free_return_pickup"}
    assert (gold.gift_pack.tier, gold.gift_pack.points) == (res.TIER_GOLD, 1_000)
    assert len(table.badges) == 21 and len(table.badge_offers) == 63
    assert [x.min_spend_minor for x in table.badges[0].levels] == [30_000, 150_000, 600_000]
    await fails(growth.GetTierTable(pb.GetTierTableRequest()), grpc.StatusCode.UNAUTHENTICATED)
