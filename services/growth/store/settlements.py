"""Settlements: the period's row (the rule set version fixed when it began), the chunks of
members taken in member order, the set-based statement (settlement_sql.py) and the counters."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

import asyncpg

from loyalty.growth.v1 import events_pb2
from services.kit import events

from ..domain import periods
from ..domain.rules import RuleSet
from . import settlement_sql

_NIL = uuid.UUID(int=0)
# How a chunk's statement is run, for its transaction only:
# - no JIT: the statements are large and run once per chunk, and compiling them took longer
#   than running them;
# - work_mem: a chunk's aggregates (tens of thousands of order lines) stay in memory;
# - a custom plan each time, for this chunk's range of members;
# - no nested loops: the planner cannot estimate a range of uuids (it took 50,000 lines for
#   26 and looped over them, three minutes for a chunk of a million-member base); hash and
#   merge joins cost about the same either way.
CHUNK_SETTINGS = (
    "SET LOCAL jit = off; SET LOCAL work_mem = '64MB';"
    " SET LOCAL plan_cache_mode = force_custom_plan; SET LOCAL enable_nestloop = off"
)
_COLUMNS = (
    "period, rule_set_version, settle_time, state, started_by, started_at, runs, completed_at,"
    " members_settled,"
    " tier_ups, tier_downs, gift_packs, gift_points, badges_awarded"
)


@dataclass(frozen=True)
class ChunkResult:
    members: int
    ups: int
    downs: int
    gift_packs: int
    gift_points: int
    badges_awarded: int


async def begin(
    conn: asyncpg.Connection,
    period: str,
    version: int,
    settle_time: dt.datetime,
    by: str,
    at: dt.datetime,
) -> asyncpg.Record:
    """The period's settlement, begun by `by` at `at` with `version` unless it began before
    (then its own version stands)."""
    await conn.execute(
        "INSERT INTO settlements (period, rule_set_version, settle_time, state, started_by,"
        " started_at) VALUES ($1, $2, $3, 'running', $4, $5) ON CONFLICT (period) DO NOTHING",
        period,
        version,
        settle_time,
        by,
        at,
    )
    return await conn.fetchrow(f"SELECT {_COLUMNS} FROM settlements WHERE period = $1", period)


async def count_run(conn: asyncpg.Connection, period: str) -> None:
    """One more run of the period's settlement (a resumed one counts again)."""
    await conn.execute("UPDATE settlements SET runs = runs + 1 WHERE period = $1", period)


async def get(conn: asyncpg.Connection | asyncpg.Pool, period: str) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT {_COLUMNS} FROM settlements WHERE period = $1", period)


async def page(
    conn: asyncpg.Connection | asyncpg.Pool, before: str | None, limit: int
) -> list[asyncpg.Record]:
    """Newest period first, after the page token's period."""
    return await conn.fetch(
        f"SELECT {_COLUMNS} FROM settlements WHERE $1::text IS NULL OR period < $1"
        " ORDER BY period DESC LIMIT $2",
        before,
        limit,
    )


# The members a settlement settles: registered before its instant, not closed.
SETTLED_HERE = "m.registered_at < {settle_time} AND m.closed_at IS NULL"


async def take_chunk(
    conn: asyncpg.Connection,
    period: str,
    settle_time: dt.datetime,
    after: uuid.UUID | None,
    limit: int,
    skip_locked: bool = False,
) -> list[uuid.UUID]:
    """The next members not yet settled for `period`, in member order after `after`, locked
    (a provisional upgrade waits for their settlement, and the other way round); with
    `skip_locked`, past those another worker holds."""
    rows = await conn.fetch(
        "SELECT member_id FROM members m WHERE member_id > $1"
        f" AND {SETTLED_HERE.format(settle_time='$4')}"
        " AND NOT EXISTS (SELECT 1 FROM member_scores s"
        "                 WHERE s.member_id = m.member_id AND s.period = $2)"
        f" ORDER BY member_id LIMIT $3 FOR UPDATE{' SKIP LOCKED' if skip_locked else ''}",
        after or _NIL,
        period,
        limit,
        settle_time,
    )
    return [r["member_id"] for r in rows]


def packs_param(rules: RuleSet) -> list[dict]:
    """The rule set's packs worth granting (some points or coupons), as the statements take
    them."""
    packs = []
    for pack in rules.gift_packs:
        if pack.points == 0 and not pack.coupons:
            continue
        coupons = [
            {"code": c.code, "quantity": c.quantity, "valueMinor": str(c.value_minor)}
            for c in pack.coupons
        ]
        packs.append(
            {
                "tier": pack.tier.value,
                "rank": pack.tier.rank,
                "points": pack.points,
                "coupons": coupons,
            }
        )
    return packs


def _levels(rules: RuleSet) -> list[dict]:
    return [
        {
            "category": rule.category,
            "level": level.level,
            "min_spend": level.min_spend_minor,
            "min_orders": level.min_orders,
        }
        for rule in rules.badges
        for level in rule.levels
    ]


def _rfc3339(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def settle_chunk(
    conn: asyncpg.Connection,
    members: list[uuid.UUID],
    rules: RuleSet,
    period: str,
    zone: str,
    source: str,
) -> ChunkResult:
    """Settle `members` (locked by `take_chunk` in this transaction) for `period`, and add
    what it did to the period's counters."""
    settle_time = periods.settlement_instant(period, zone)
    window = periods.window_ending(settle_time, zone)
    cutoff = periods.period_of_index(periods.period_index(period) - periods.WINDOW_MONTHS)
    await conn.execute(CHUNK_SETTINGS)
    row = await conn.fetchrow(
        settlement_sql.statement(rules),
        members,
        window.start,
        settle_time,
        period,
        zone,
        rules.currency,
        list(rules.categories),
        list(rules.account.profile_fields),
        cutoff,
        packs_param(rules),
        _levels(rules),
        rules.version,
        _rfc3339(settle_time),
        events.type_of(events_pb2.GrowthScoreSettled),
        events.type_of(events_pb2.GrowthTierChanged),
        events.type_of(events_pb2.GrowthGiftPackGranted),
        events.type_of(events_pb2.GrowthBadgeAwarded),
        source,
        min(members),
        max(members),
    )
    result = ChunkResult(
        row["members"],
        row["ups"],
        row["downs"],
        row["gift_packs"],
        row["gift_points"],
        row["badges_awarded"],
    )
    if result.members:
        await conn.execute(
            "UPDATE settlements SET members_settled = members_settled + $2,"
            " tier_ups = tier_ups + $3, tier_downs = tier_downs + $4,"
            " gift_packs = gift_packs + $5, gift_points = gift_points + $6,"
            " badges_awarded = badges_awarded + $7 WHERE period = $1",
            period,
            result.members,
            result.ups,
            result.downs,
            result.gift_packs,
            result.gift_points,
            result.badges_awarded,
        )
    return result


async def complete(conn: asyncpg.Connection, period: str, at: dt.datetime) -> bool:
    return (
        await conn.execute(
            "UPDATE settlements SET state = 'completed', completed_at = $2"
            " WHERE period = $1 AND state = 'running'",
            period,
            at,
        )
        == "UPDATE 1"
    )
