"""Subscriptions and their terms."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

import asyncpg

_COLUMNS = """subscription_id, member_id, state, order_plan_id, order_plan_version, ordered_at,
    auto_renew, renewal_plan_id, renewal_plan_version, anchor_day, grace_until, attempts,
    last_attempt_at, start_time, ended_at, end_cause, refunded_minor, order_id, update_time"""
_TERM_COLUMNS = """subscription_id, sequence, plan_id, plan_version, channel, start_time,
    end_time, paid_minor, paid_at, order_id, payment_id"""
LIVE = ("pending_payment", "active", "grace")


@dataclass(frozen=True)
class TermRow:
    subscription_id: uuid.UUID
    sequence: int
    plan_id: str
    plan_version: int
    channel: str  # domain.terms.Channel's values
    start_time: dt.datetime
    end_time: dt.datetime
    paid_minor: int
    paid_at: dt.datetime
    order_id: uuid.UUID | None
    payment_id: str | None


@dataclass(frozen=True)
class SubscriptionRow:
    subscription_id: uuid.UUID
    member_id: uuid.UUID
    state: str  # domain.lifecycle.State's values
    order_plan_id: str
    order_plan_version: int
    ordered_at: dt.datetime
    auto_renew: bool
    renewal_plan_id: str | None
    renewal_plan_version: int | None
    anchor_day: int | None
    grace_until: dt.datetime | None
    attempts: int
    last_attempt_at: dt.datetime | None
    start_time: dt.datetime | None
    ended_at: dt.datetime | None
    end_cause: str | None
    refunded_minor: int | None
    order_id: uuid.UUID | None
    update_time: dt.datetime
    terms: tuple[TermRow, ...] = ()


async def _with_terms(conn, record: asyncpg.Record | None) -> SubscriptionRow | None:
    if record is None:
        return None
    terms = await conn.fetch(
        f"SELECT {_TERM_COLUMNS} FROM terms WHERE subscription_id = $1 ORDER BY sequence",
        record["subscription_id"],
    )
    return SubscriptionRow(**dict(record), terms=tuple(TermRow(**dict(t)) for t in terms))


async def get(conn, subscription_id: uuid.UUID, *, lock: bool = False) -> SubscriptionRow | None:
    suffix = " FOR UPDATE" if lock else ""
    record = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM subscriptions WHERE subscription_id = $1{suffix}",
        subscription_id,
    )
    return await _with_terms(conn, record)


async def live(conn, member_id: uuid.UUID, *, lock: bool = False) -> SubscriptionRow | None:
    """The member's subscription PENDING_PAYMENT, ACTIVE or GRACE (at most one)."""
    suffix = " FOR UPDATE" if lock else ""
    record = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM subscriptions WHERE member_id = $1 AND state = ANY($2){suffix}",
        member_id,
        list(LIVE),
    )
    return await _with_terms(conn, record)


async def latest(conn, member_id: uuid.UUID) -> SubscriptionRow | None:
    """The member's live subscription, else the most recently ended one."""
    record = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM subscriptions WHERE member_id = $1"
        " ORDER BY state = ANY($2) DESC, ordered_at DESC, subscription_id DESC LIMIT 1",
        member_id,
        list(LIVE),
    )
    return await _with_terms(conn, record)


async def had_trial(conn, member_id: uuid.UUID) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT 1 FROM terms t JOIN subscriptions s USING (subscription_id)"
            " WHERE s.member_id = $1 AND t.channel = 'trial' LIMIT 1",
            member_id,
        )
    )


async def save(conn, row: SubscriptionRow) -> None:
    """Write the subscription's row and the terms it does not have yet (terms are appended)."""
    await conn.execute(
        f"INSERT INTO subscriptions ({_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9,"
        " $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)"
        " ON CONFLICT (subscription_id) DO UPDATE SET state = EXCLUDED.state,"
        " auto_renew = EXCLUDED.auto_renew, renewal_plan_id = EXCLUDED.renewal_plan_id,"
        " renewal_plan_version = EXCLUDED.renewal_plan_version,"
        " anchor_day = EXCLUDED.anchor_day, grace_until = EXCLUDED.grace_until,"
        " attempts = EXCLUDED.attempts, last_attempt_at = EXCLUDED.last_attempt_at,"
        " start_time = EXCLUDED.start_time, ended_at = EXCLUDED.ended_at,"
        " end_cause = EXCLUDED.end_cause, refunded_minor = EXCLUDED.refunded_minor,"
        " order_id = EXCLUDED.order_id, update_time = EXCLUDED.update_time",
        row.subscription_id,
        row.member_id,
        row.state,
        row.order_plan_id,
        row.order_plan_version,
        row.ordered_at,
        row.auto_renew,
        row.renewal_plan_id,
        row.renewal_plan_version,
        row.anchor_day,
        row.grace_until,
        row.attempts,
        row.last_attempt_at,
        row.start_time,
        row.ended_at,
        row.end_cause,
        row.refunded_minor,
        row.order_id,
        row.update_time,
    )
    if row.terms:
        await conn.executemany(
            # A term starting after it was bought (stacked) has not begun: the clock job says
            # so when it does (TermBeginning).
            f"INSERT INTO terms ({_TERM_COLUMNS}, began) VALUES ($1, $2, $3, $4, $5, $6, $7,"
            " $8, $9, $10, $11, $6::timestamptz <= $9::timestamptz) ON CONFLICT (subscription_id, sequence) DO NOTHING",
            [
                (
                    t.subscription_id,
                    t.sequence,
                    t.plan_id,
                    t.plan_version,
                    t.channel,
                    t.start_time,
                    t.end_time,
                    t.paid_minor,
                    t.paid_at,
                    t.order_id,
                    t.payment_id,
                )
                for t in row.terms
            ],
        )


@dataclass(frozen=True)
class TermBeginning:
    """A term whose start has come and which has not begun yet."""

    subscription_id: uuid.UUID
    sequence: int
    start_time: dt.datetime


async def lock_beginning(conn, now: dt.datetime, limit: int) -> list[TermBeginning]:
    """Terms whose start has come but which have not begun, oldest first, locked (another run
    skips them)."""
    rows = await conn.fetch(
        "SELECT subscription_id, sequence, start_time FROM terms"
        " WHERE NOT began AND start_time <= $1"
        " ORDER BY start_time LIMIT $2 FOR UPDATE SKIP LOCKED",
        now,
        limit,
    )
    return [TermBeginning(**dict(r)) for r in rows]


async def mark_begun(conn, terms: list[TermBeginning]) -> None:
    await conn.execute(
        "UPDATE terms t SET began = true FROM unnest($1::uuid[], $2::int[]) AS b(id, seq)"
        " WHERE t.subscription_id = b.id AND t.sequence = b.seq",
        [t.subscription_id for t in terms],
        [t.sequence for t in terms],
    )
