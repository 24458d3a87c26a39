"""The facts: recorded once per key, read back as domain facts for one member."""

from __future__ import annotations

import datetime as dt
import uuid

import asyncpg

from ..domain import facts as f

_ENSURE_MEMBER = "INSERT INTO members (member_id) VALUES ($1) ON CONFLICT DO NOTHING"


async def member_seen(conn: asyncpg.Connection, member_id: uuid.UUID, at: dt.datetime) -> None:
    """The member is known from its registration (the earliest registration time kept)."""
    await conn.execute(
        "INSERT INTO members (member_id, registered_at) VALUES ($1, $2)"
        " ON CONFLICT (member_id) DO UPDATE"
        " SET registered_at = LEAST(coalesce(members.registered_at, $2), $2)",
        member_id,
        at,
    )


async def member_closed(conn: asyncpg.Connection, member_id: uuid.UUID, at: dt.datetime) -> None:
    """Closed: no longer settled nor served. A close before the registration arrives is kept
    (the registration then does not reopen the member)."""
    await conn.execute(
        "INSERT INTO members (member_id, closed_at) VALUES ($1, $2)"
        " ON CONFLICT (member_id) DO UPDATE SET closed_at = coalesce(members.closed_at, $2)",
        member_id,
        at,
    )


async def record(conn: asyncpg.Connection, fact: f.Fact) -> bool:
    """Store `fact` unless one of its key is there; True when it was new. The member becomes
    known with its first fact (its registration may come later or never)."""
    member = uuid.UUID(fact.member_id)
    await conn.execute(_ENSURE_MEMBER, member)
    if isinstance(fact, f.OrderPaid):
        added = await conn.fetchval(
            "INSERT INTO orders (member_id, order_id, occurred_at, currency, paid_minor,"
            " platform_paid_minor) VALUES ($1, $2, $3, $4, $5, $6)"
            " ON CONFLICT DO NOTHING RETURNING true",
            member,
            fact.source_id,
            fact.occurred_at,
            fact.currency,
            fact.paid_minor,
            fact.platform_paid_minor,
        )
        if added:
            await conn.execute(
                "INSERT INTO order_lines (member_id, order_id, line_id, category, paid_minor)"
                " SELECT $1, $2, * FROM unnest($3::text[], $4::text[], $5::bigint[])",
                member,
                fact.source_id,
                [line.line_id for line in fact.lines],
                [line.category for line in fact.lines],
                [line.paid_minor for line in fact.lines],
            )
        return bool(added)
    if isinstance(fact, f.OrderRefunded):
        added = await conn.fetchval(
            "INSERT INTO refunds (member_id, refund_id, order_id, occurred_at, currency)"
            " VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING true",
            member,
            fact.source_id,
            fact.order_id,
            fact.occurred_at,
            fact.currency,
        )
        if added:
            await conn.execute(
                "INSERT INTO refund_lines (member_id, refund_id, order_id, line_id, amount_minor)"
                " SELECT $1, $2, $3, * FROM unnest($4::text[], $5::bigint[])",
                member,
                fact.source_id,
                fact.order_id,
                [line.line_id for line in fact.lines],
                [line.amount_minor for line in fact.lines],
            )
        return bool(added)
    if isinstance(fact, f.Activity):
        return bool(
            await conn.fetchval(
                "INSERT INTO activities (member_id, source_id, occurred_at, kind)"
                " VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING true",
                member,
                fact.source_id,
                fact.occurred_at,
                fact.activity.value,
            )
        )
    provider = filled = score = None
    if isinstance(fact, f.AccountLinked | f.AccountUnlinked):
        provider = fact.provider
    elif isinstance(fact, f.ProfileSnapshot):
        filled = sorted(fact.filled)
    elif isinstance(fact, f.ReputationAssessed | f.CreditReported):
        score = fact.score
    return bool(
        await conn.fetchval(
            "INSERT INTO standings (member_id, kind, source_id, occurred_at, provider, filled,"
            " score) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING RETURNING true",
            member,
            fact.kind.value,
            fact.source_id,
            fact.occurred_at,
            provider,
            filled,
            score,
        )
    )


async def of_member(conn: asyncpg.Connection | asyncpg.Pool, member_id: uuid.UUID) -> list[f.Fact]:
    """Every fact of a member, as the domain takes them."""
    found: list[f.Fact] = []
    m = str(member_id)
    rows = await conn.fetch(
        "SELECT o.order_id, o.occurred_at, o.currency, o.platform_paid_minor,"
        " array_agg(l.line_id ORDER BY l.line_id) AS line_ids,"
        " array_agg(l.category ORDER BY l.line_id) AS categories,"
        " array_agg(l.paid_minor ORDER BY l.line_id) AS amounts"
        " FROM orders o JOIN order_lines l USING (member_id, order_id)"
        " WHERE o.member_id = $1 GROUP BY o.order_id, o.occurred_at, o.currency,"
        " o.platform_paid_minor",
        member_id,
    )
    for r in rows:
        lines = tuple(
            f.OrderLine(*x) for x in zip(r["line_ids"], r["categories"], r["amounts"], strict=True)
        )
        found.append(
            f.OrderPaid(
                m, r["order_id"], r["occurred_at"], r["currency"], lines, r["platform_paid_minor"]
            )
        )
    rows = await conn.fetch(
        "SELECT r.refund_id, r.order_id, r.occurred_at, r.currency,"
        " array_agg(l.line_id ORDER BY l.line_id) AS line_ids,"
        " array_agg(l.amount_minor ORDER BY l.line_id) AS amounts"
        " FROM refunds r JOIN refund_lines l USING (member_id, refund_id)"
        " WHERE r.member_id = $1 GROUP BY r.refund_id, r.order_id, r.occurred_at, r.currency",
        member_id,
    )
    for r in rows:
        back = tuple(f.RefundLine(*x) for x in zip(r["line_ids"], r["amounts"], strict=True))
        found.append(
            f.OrderRefunded(m, r["refund_id"], r["occurred_at"], r["order_id"], r["currency"], back)
        )
    for r in await conn.fetch(
        "SELECT source_id, occurred_at, kind FROM activities WHERE member_id = $1", member_id
    ):
        found.append(f.Activity(m, r["source_id"], r["occurred_at"], f.ActivityKind(r["kind"])))
    for r in await conn.fetch(
        "SELECT kind, source_id, occurred_at, provider, filled, score FROM standings"
        " WHERE member_id = $1",
        member_id,
    ):
        found.append(standing(m, r))
    return found


def standing(member: str, r: asyncpg.Record) -> f.Fact:
    """A standings row (kind, source_id, occurred_at, provider, filled, score) as its fact."""
    kind, source, at = f.FactKind(r["kind"]), r["source_id"], r["occurred_at"]
    if kind is f.FactKind.VERIFIED:
        return f.Verified(member, source, at)
    if kind is f.FactKind.ACCOUNT_LINKED:
        return f.AccountLinked(member, source, at, r["provider"])
    if kind is f.FactKind.ACCOUNT_UNLINKED:
        return f.AccountUnlinked(member, source, at, r["provider"])
    if kind is f.FactKind.PROFILE:
        return f.ProfileSnapshot(member, source, at, frozenset(r["filled"] or ()))
    if kind is f.FactKind.REPUTATION:
        return f.ReputationAssessed(member, source, at, r["score"])
    return f.CreditReported(member, source, at, r["score"])
