"""What a settlement's own row does not hold, read from what it left: the members' scores of
the period (tiers after it, moves), its gift grants (coupons), the members it has still to
settle; and the audit trail's names for a settlement's runs."""

from __future__ import annotations

import datetime as dt

import asyncpg

from .settlements import SETTLED_HERE

# The audit trail's entries about settlements (subject: `subject(period)`).
REQUESTED = "growth.settlement.run"  # an operator's RunSettlement (detail: began)
RUN_BEGUN = "growth.settlement.run_begun"  # a run set off on an unfinished settlement


def subject(period: str) -> str:
    return f"settlement:{period}"


async def tiers(conn: asyncpg.Connection | asyncpg.Pool, period: str) -> dict[str, int]:
    """Members per tier after the settlement of `period`."""
    rows = await conn.fetch(
        "SELECT tier, count(*) AS members FROM member_scores WHERE period = $1 GROUP BY tier",
        period,
    )
    return {r["tier"]: r["members"] for r in rows}


async def moves(conn: asyncpg.Connection | asyncpg.Pool, period: str) -> dict[tuple[str, str], int]:
    """Members per (tier before, tier after) of the settlement of `period`, moves only."""
    rows = await conn.fetch(
        "SELECT tier_before, tier, count(*) AS members FROM member_scores"
        " WHERE period = $1 AND tier_before <> tier GROUP BY tier_before, tier",
        period,
    )
    return {(r["tier_before"], r["tier"]): r["members"] for r in rows}


async def coupons(
    conn: asyncpg.Connection | asyncpg.Pool, period: str, settle_time: dt.datetime
) -> list[tuple[str, int, int]]:
    """(code, quantity, face value) of the coupons the settlement's gift packs granted, in code
    order. A settlement's grants are dated its instant; an immediate upgrade's (same period
    name for the month it happened in) are dated before it."""
    rows = await conn.fetch(
        "SELECT c->>'code' AS code, sum((c->>'quantity')::bigint) AS quantity,"
        " sum((c->>'quantity')::bigint * (c->>'valueMinor')::bigint) AS value"
        " FROM gift_grants g CROSS JOIN LATERAL jsonb_array_elements(g.coupons) c"
        " WHERE g.period = $1 AND g.granted_at = $2 GROUP BY 1 ORDER BY 1",
        period,
        settle_time,
    )
    return [(r["code"], int(r["quantity"]), int(r["value"])) for r in rows]


async def unsettled(
    conn: asyncpg.Connection | asyncpg.Pool, period: str, settle_time: dt.datetime
) -> int:
    """Members the settlement of `period` has still to settle (as `take_chunk` finds them)."""
    return int(
        await conn.fetchval(
            f"SELECT count(*) FROM members m WHERE {SETTLED_HERE.format(settle_time='$2')}"
            " AND NOT EXISTS (SELECT 1 FROM member_scores s"
            " WHERE s.member_id = m.member_id AND s.period = $1)",
            period,
            settle_time,
        )
    )
