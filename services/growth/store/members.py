"""A member's growth as the API reads it (the member row, settled scores, badges, gift packs,
facts with their record times) and the writes of an immediate upgrade."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import TypeAlias

import asyncpg

from ..domain import facts as f
from ..domain.badges import Badge
from ..domain.gifts import GiftGrant
from ..domain.rules import Component, Tier
from .facts import standing

# The audit action of an immediate upgrade.
TIER_RAISED = "growth.tier_raised"

Executor: TypeAlias = asyncpg.Connection | asyncpg.Pool


@dataclass(frozen=True)
class MemberRow:
    member_id: uuid.UUID
    tier: Tier
    months_below: int
    settled_period: str | None
    score: int
    registered_at: dt.datetime | None
    closed_at: dt.datetime | None


@dataclass(frozen=True)
class ScoreRow:
    """A member's settled score of one period (member_scores)."""

    member_id: uuid.UUID
    period: str
    score: int
    values: tuple[tuple[Component, int], ...]  # in Component order
    tier_before: Tier
    tier: Tier
    months_below: int
    risk_gated: bool
    rule_set_version: int
    settle_time: dt.datetime

    def value(self, component: Component) -> int:
        return dict(self.values)[component]

    @property
    def risk_standing(self) -> int:
        """Reputation plus credit values, what the risk gate compares."""
        return self.value(Component.REPUTATION) + self.value(Component.CREDIT)


@dataclass(frozen=True)
class RecordedFact:
    fact: f.Fact
    recorded_at: dt.datetime


def _member(r: asyncpg.Record) -> MemberRow:
    return MemberRow(
        r["member_id"],
        Tier(r["tier"]),
        r["months_below"],
        r["settled_period"],
        r["score"],
        r["registered_at"],
        r["closed_at"],
    )


async def get(conn: Executor, member_id: uuid.UUID) -> MemberRow | None:
    r = await conn.fetchrow("SELECT * FROM members WHERE member_id = $1", member_id)
    return _member(r) if r else None


async def lock(conn: asyncpg.Connection, member_id: uuid.UUID) -> MemberRow | None:
    """The member's row, locked until the transaction ends: one provisional upgrade at a time,
    and none while a settlement holds the member (take_chunk locks the same rows)."""
    r = await conn.fetchrow("SELECT * FROM members WHERE member_id = $1 FOR UPDATE", member_id)
    return _member(r) if r else None


def _score(r: asyncpg.Record) -> ScoreRow:
    return ScoreRow(
        r["member_id"],
        r["period"],
        r["score"],
        tuple((c, r[c.value]) for c in Component),
        Tier(r["tier_before"]),
        Tier(r["tier"]),
        r["months_below"],
        r["risk_gated"],
        r["rule_set_version"],
        r["settle_time"],
    )


async def latest_score(conn: Executor, member_id: uuid.UUID) -> ScoreRow | None:
    r = await conn.fetchrow(
        "SELECT * FROM member_scores WHERE member_id = $1 ORDER BY period DESC LIMIT 1",
        member_id,
    )
    return _score(r) if r else None


async def score_of(conn: Executor, member_id: uuid.UUID, period: str) -> ScoreRow | None:
    r = await conn.fetchrow(
        "SELECT * FROM member_scores WHERE member_id = $1 AND period = $2", member_id, period
    )
    return _score(r) if r else None


async def scores(
    conn: Executor, member_id: uuid.UUID, before: str | None, limit: int
) -> list[ScoreRow]:
    """Settled scores, newest period first, those before the period `before` (a page's
    cursor)."""
    rows = await conn.fetch(
        "SELECT * FROM member_scores WHERE member_id = $1 AND ($2::text IS NULL OR period < $2)"
        " ORDER BY period DESC LIMIT $3",
        member_id,
        before,
        limit,
    )
    return [_score(r) for r in rows]


async def badges(conn: Executor, member_id: uuid.UUID) -> tuple[Badge, ...]:
    rows = await conn.fetch(
        'SELECT category, level FROM member_badges WHERE member_id = $1 ORDER BY category COLLATE "C"',
        member_id,
    )
    return tuple(Badge(r["category"], r["level"]) for r in rows)


async def last_gifts(conn: Executor, member_id: uuid.UUID) -> dict[Tier, str]:
    """The period each tier's pack was last granted for."""
    rows = await conn.fetch(
        "SELECT tier, max(period) AS period FROM gift_grants WHERE member_id = $1 GROUP BY tier",
        member_id,
    )
    return {Tier(r["tier"]): r["period"] for r in rows}


async def tier_changed_at(conn: Executor, member_id: uuid.UUID) -> dt.datetime | None:
    """When the member's tier last changed (a settlement that moved it, or an immediate
    upgrade); None when it never did."""
    return await conn.fetchval("SELECT tier_since FROM members WHERE member_id = $1", member_id)


async def rules_activated_at(conn: Executor) -> dt.datetime | None:
    """When the active rule set became active (a member's benefits follow it)."""
    return await conn.fetchval("SELECT activated_at FROM rule_sets WHERE state = 'active'")


async def settlement_running(conn: Executor, period: str) -> bool:
    """Whether the settlement of `period` has begun and not completed."""
    return bool(
        await conn.fetchval("SELECT state = 'running' FROM settlements WHERE period = $1", period)
    )


# --- an immediate upgrade ---------------------------------------------------------------------
async def raise_tier(
    conn: asyncpg.Connection,
    member_id: uuid.UUID,
    tier: Tier,
    months_below: int,
    at: dt.datetime,
) -> None:
    await conn.execute(
        "UPDATE members SET tier = $2, months_below = $3, tier_since = $4 WHERE member_id = $1",
        member_id,
        tier.value,
        months_below,
        at,
    )


async def add_grants(
    conn: asyncpg.Connection, grants: tuple[GiftGrant, ...], version: int, at: dt.datetime
) -> set[str]:
    """Record `grants`; the references of those that were new (a reference is granted once,
    whoever computed it)."""
    if not grants:
        return set()
    rows = await conn.fetch(
        "INSERT INTO gift_grants (reference, member_id, tier, period, points, coupons,"
        " rule_set_version, granted_at)"
        " SELECT * FROM unnest($1::text[], $2::uuid[], $3::text[], $4::text[], $5::bigint[],"
        " $6::jsonb[], $7::int[], $8::timestamptz[])"
        " ON CONFLICT (reference) DO NOTHING RETURNING reference",
        [g.reference for g in grants],
        [uuid.UUID(g.member_id) for g in grants],
        [g.tier.value for g in grants],
        [g.period for g in grants],
        [g.points for g in grants],
        [_coupons(g) for g in grants],
        [version] * len(grants),
        [at] * len(grants),
    )
    return {r["reference"] for r in rows}


def _coupons(grant: GiftGrant) -> list[dict]:
    """As the settlement stores them: the GiftCoupon message's proto3 JSON."""
    return [
        {"code": c.code, "quantity": c.quantity, "valueMinor": str(c.value_minor)}
        for c in grant.coupons
    ]


# --- facts with their record times ------------------------------------------------------------
# Every kind of fact as one row shape, keyed "<kind>:<source_id>" like the domain's.
_FACTS = """
SELECT 'order_paid' AS kind, o.order_id AS source_id, o.occurred_at, o.recorded_at,
       o.currency, o.platform_paid_minor, NULL::text AS order_id, NULL::text AS activity,
       NULL::text AS provider, NULL::text[] AS filled, NULL::bigint AS score,
       ARRAY(SELECT l.line_id FROM order_lines l WHERE l.member_id = o.member_id
             AND l.order_id = o.order_id ORDER BY l.line_id) AS line_ids,
       ARRAY(SELECT l.category FROM order_lines l WHERE l.member_id = o.member_id
             AND l.order_id = o.order_id ORDER BY l.line_id) AS categories,
       ARRAY(SELECT l.paid_minor FROM order_lines l WHERE l.member_id = o.member_id
             AND l.order_id = o.order_id ORDER BY l.line_id) AS amounts
FROM orders o WHERE o.member_id = $1
UNION ALL
SELECT 'order_refunded', r.refund_id, r.occurred_at, r.recorded_at, r.currency, 0, r.order_id,
       NULL, NULL, NULL, NULL,
       ARRAY(SELECT l.line_id FROM refund_lines l WHERE l.member_id = r.member_id
             AND l.refund_id = r.refund_id ORDER BY l.line_id),
       ARRAY(SELECT '' FROM refund_lines l WHERE l.member_id = r.member_id
             AND l.refund_id = r.refund_id ORDER BY l.line_id),
       ARRAY(SELECT l.amount_minor FROM refund_lines l WHERE l.member_id = r.member_id
             AND l.refund_id = r.refund_id ORDER BY l.line_id)
FROM refunds r WHERE r.member_id = $1
UNION ALL
SELECT 'activity', a.source_id, a.occurred_at, a.recorded_at, NULL, 0, NULL, a.kind, NULL,
       NULL, NULL, '{}', '{}', '{}'
FROM activities a WHERE a.member_id = $1
UNION ALL
SELECT s.kind, s.source_id, s.occurred_at, s.recorded_at, NULL, 0, NULL, NULL, s.provider,
       s.filled, s.score, '{}', '{}', '{}'
FROM standings s WHERE s.member_id = $1
"""


async def facts_page(
    conn: Executor,
    member_id: uuid.UUID,
    *,
    kind: f.FactKind | None,
    occur_after: dt.datetime | None,
    occur_before: dt.datetime | None,
    cursor: tuple[dt.datetime, str] | None,
    limit: int,
) -> list[RecordedFact]:
    """The member's facts, newest occurrence first (ties: key, descending), filtered: of
    `kind`, dated at or after `occur_after` and before `occur_before`, and after the page's
    `cursor` (occurrence, key)."""
    cursor_at, cursor_key = cursor if cursor else (None, None)
    rows = await conn.fetch(
        f"SELECT * FROM (SELECT *, kind || ':' || source_id AS key FROM ({_FACTS}) u) facts"
        " WHERE ($2::text IS NULL OR kind = $2)"
        " AND ($3::timestamptz IS NULL OR occurred_at >= $3)"
        " AND ($4::timestamptz IS NULL OR occurred_at < $4)"
        ' AND ($5::timestamptz IS NULL OR (occurred_at, key COLLATE "C") < ($5, $6::text))'
        ' ORDER BY occurred_at DESC, key COLLATE "C" DESC LIMIT $7',
        member_id,
        kind.value if kind else None,
        occur_after,
        occur_before,
        cursor_at,
        cursor_key,
        limit,
    )
    return [RecordedFact(_fact(str(member_id), r), r["recorded_at"]) for r in rows]


async def recorded_times(
    conn: Executor, member_id: uuid.UUID, keys: list[str]
) -> dict[str, dt.datetime]:
    """When each fact of `keys` was recorded."""
    rows = await conn.fetch(
        "SELECT key, recorded_at FROM ("
        " SELECT 'order_paid:' || order_id AS key, recorded_at FROM orders WHERE member_id = $1"
        " UNION ALL"
        " SELECT 'order_refunded:' || refund_id, recorded_at FROM refunds WHERE member_id = $1"
        " UNION ALL"
        " SELECT 'activity:' || source_id, recorded_at FROM activities WHERE member_id = $1"
        " UNION ALL"
        " SELECT kind || ':' || source_id, recorded_at FROM standings WHERE member_id = $1"
        ") facts WHERE key = ANY($2::text[])",
        member_id,
        keys,
    )
    return {r["key"]: r["recorded_at"] for r in rows}


def _fact(member: str, r: asyncpg.Record) -> f.Fact:
    kind, source, at = f.FactKind(r["kind"]), r["source_id"], r["occurred_at"]
    if kind is f.FactKind.ORDER_PAID:
        lines = zip(r["line_ids"], r["categories"], r["amounts"], strict=True)
        return f.OrderPaid(
            member,
            source,
            at,
            r["currency"],
            tuple(f.OrderLine(*x) for x in lines),
            r["platform_paid_minor"],
        )
    if kind is f.FactKind.ORDER_REFUNDED:
        back = zip(r["line_ids"], r["amounts"], strict=True)
        return f.OrderRefunded(
            member, source, at, r["order_id"], r["currency"], tuple(f.RefundLine(*x) for x in back)
        )
    if kind is f.FactKind.ACTIVITY:
        return f.Activity(member, source, at, f.ActivityKind(r["activity"]))
    return standing(member, r)
