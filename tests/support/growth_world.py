"""Random members for growth's settlement tests: facts crowding the edges that matter (the
window's first and last instants, business-month boundaries that are not UTC's, refunds of
orders outside the window or not yet seen, other currencies, categories the rules do not
name, bursts of activity in one month) and random states before the settlement (tier, grace
used, badges, gift packs granted recently or long ago).

The same world is stored through growth's store and given to the domain's `settle_member`, so a
test can hold the set-based settlement to the reference implementation member for member."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from dataclasses import dataclass

import asyncpg

from services.growth.domain import facts as f
from services.growth.domain import periods
from services.growth.domain.rules import RuleSet, Tier
from services.growth.domain.settlement import MemberState
from services.growth.domain.tiers import TierState
from services.growth.store import facts as store

ZONE = "Asia/Shanghai"
OUTSIDE = "spaceships"  # a category no rule set names


@dataclass
class Member:
    member_id: str
    facts: list[f.Fact]
    state: MemberState


def _instants(rng: random.Random, settle: dt.datetime) -> list[dt.datetime]:
    window = periods.window_ending(settle, ZONE)
    tick = dt.timedelta(microseconds=1)
    edges = [window.start, window.start - tick, settle - tick, settle, settle + tick]
    # business-month boundaries inside the window: 00:00 local is 16:00 UTC the day before
    for months in range(1, 12):
        day = periods.add_months(periods.local_day(window.start, ZONE), months)
        start = periods.midnight(day, ZONE)
        edges += [start, start - tick]
    return edges


def _when(rng: random.Random, settle: dt.datetime, edges: list[dt.datetime]) -> dt.datetime:
    if rng.random() < 0.3:
        return rng.choice(edges)
    span = 15 * 31 * 24 * 3600
    return settle - dt.timedelta(seconds=rng.randrange(span)) + dt.timedelta(days=20)


def member(rng: random.Random, settle: dt.datetime, rules: RuleSet) -> Member:
    m = str(uuid.uuid4())
    edges = _instants(rng, settle)
    facts: list[f.Fact] = []
    orders: list[f.OrderPaid] = []
    categories = [*rules.categories[:4], OUTSIDE]
    fields = [*rules.account.profile_fields, "shoe_size"]
    for i in range(rng.randrange(0, 7)):
        lines = tuple(
            f.OrderLine(
                f"l{j}", rng.choice(categories), rng.choice([0, 1, 99, 2_000_00, 60_000_00])
            )
            for j in range(rng.randrange(1, 4))
        )
        paid = sum(line.paid_minor for line in lines)
        order = f.OrderPaid(
            m,
            f"o{i}",
            _when(rng, settle, edges),
            "CNY" if rng.random() < 0.9 else "USD",
            lines,
            rng.randrange(paid + 1),
        )
        orders.append(order)
        facts.append(order)
    for i in range(rng.randrange(0, 4)):
        if orders and rng.random() < 0.85:
            order = rng.choice(orders)
            back = tuple(
                f.RefundLine(line.line_id, rng.randrange(line.paid_minor + 50))
                for line in order.lines
                if rng.random() < 0.7
            )
            order_id, currency = order.source_id, order.currency
        else:
            back, order_id, currency = (f.RefundLine("l0", 500),), "never-seen", "CNY"
        facts.append(
            f.OrderRefunded(m, f"r{i}", _when(rng, settle, edges), order_id, currency, back)
        )
    burst = _when(rng, settle, edges)
    for i in range(rng.randrange(0, 9)):
        when = burst if rng.random() < 0.5 else _when(rng, settle, edges)
        facts.append(f.Activity(m, f"a{i}", when, rng.choice(list(f.ActivityKind))))
    if rng.random() < 0.6:
        facts.append(f.Verified(m, "v", _when(rng, settle, edges)))
    for i in range(rng.randrange(0, 4)):
        kind = rng.choice([f.AccountLinked, f.AccountUnlinked])
        facts.append(kind(m, f"k{i}", _when(rng, settle, edges), rng.choice(["wechat", "qq"])))
    for i in range(rng.randrange(0, 3)):
        filled = frozenset(rng.sample(fields, rng.randrange(0, len(fields) + 1)))
        facts.append(f.ProfileSnapshot(m, f"p{i}", _when(rng, settle, edges), filled))
    for i in range(rng.randrange(0, 3)):
        facts.append(
            f.ReputationAssessed(m, f"q{i}", _when(rng, settle, edges), rng.randrange(101))
        )
    for i in range(rng.randrange(0, 3)):
        facts.append(f.CreditReported(m, f"c{i}", _when(rng, settle, edges), rng.randrange(200)))
    return Member(m, facts, _state(rng, settle, rules))


def _state(rng: random.Random, settle: dt.datetime, rules: RuleSet) -> MemberState:
    period = periods.settled_period(settle, ZONE)
    index = periods.period_index(period)
    tier = rng.choice(list(Tier))
    below = rng.randrange(rules.policy.grace_months + 1) if tier is not Tier.REGISTERED else 0
    gifts = {
        t: periods.period_of_index(index - rng.choice([1, 11, 12, 13]))
        for t in list(Tier)[1:]
        if rng.random() < 0.4
    }
    held = {c: rng.randrange(1, 4) for c in rules.categories[:4] if rng.random() < 0.3}
    settled = periods.period_of_index(index - 1) if rng.random() < 0.7 else None
    return MemberState(TierState(tier, below), gifts, held, settled)


async def store_member(conn: asyncpg.Connection, who: Member, previous_score: int) -> None:
    """The member's facts through the store, and its state before the settlement."""
    member_id = uuid.UUID(who.member_id)
    await store.member_seen(conn, member_id, dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
    for fact in who.facts:
        await store.record(conn, fact)
    state = who.state
    await conn.execute(
        "UPDATE members SET tier = $2, months_below = $3, settled_period = $4, score = $5"
        " WHERE member_id = $1",
        member_id,
        state.tier.tier.value,
        state.tier.months_below,
        state.settled_period,
        previous_score,
    )
    for category, level in state.badges.items():
        await conn.execute(
            "INSERT INTO member_badges (member_id, category, level, since)"
            " VALUES ($1, $2, $3, '2020-01-01')",
            member_id,
            category,
            level,
        )
    for tier, period in state.last_gifts.items():
        await conn.execute(
            "INSERT INTO gift_grants (reference, member_id, tier, period, points, coupons,"
            " rule_set_version, granted_at) VALUES ($1, $2, $3, $4, 1, '[]', 1, now())",
            f"growth:tier_upgrade:{member_id}:{tier.value}:{period}",
            member_id,
            tier.value,
            period,
        )
