"""Top-ups of members' stored value and the bonus policies they were quoted under."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass

_COLUMNS = """top_up_id, member_id, currency_code, amount_minor, bonus_minor,
    bonus_policy_version, state, payment_reference, refunded_principal_minor,
    clawed_back_bonus_minor, failure_reason, refund_reason, created_by, create_time,
    confirm_time, close_time"""


@dataclass(frozen=True)
class TopUp:
    top_up_id: uuid.UUID
    member_id: uuid.UUID
    currency_code: str
    amount_minor: int
    bonus_minor: int
    bonus_policy_version: int | None
    state: str  # pending | confirmed | failed | refunded
    payment_reference: str
    refunded_principal_minor: int
    clawed_back_bonus_minor: int
    failure_reason: str
    refund_reason: str
    created_by: str
    create_time: dt.datetime
    confirm_time: dt.datetime | None
    close_time: dt.datetime | None


def _top_up(row) -> TopUp | None:
    return TopUp(**dict(row)) if row else None


async def insert(conn, t: TopUp) -> None:
    await conn.execute(
        "INSERT INTO top_ups (top_up_id, member_id, currency_code, amount_minor, bonus_minor,"
        " bonus_policy_version, state, created_by, create_time, update_time)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)",
        t.top_up_id,
        t.member_id,
        t.currency_code,
        t.amount_minor,
        t.bonus_minor,
        t.bonus_policy_version,
        t.state,
        t.created_by,
        t.create_time,
    )


async def get(conn, top_up_id: uuid.UUID) -> TopUp | None:
    return _top_up(
        await conn.fetchrow(f"SELECT {_COLUMNS} FROM top_ups WHERE top_up_id = $1", top_up_id)
    )


async def lock(conn, top_up_id: uuid.UUID) -> TopUp | None:
    return _top_up(
        await conn.fetchrow(
            f"SELECT {_COLUMNS} FROM top_ups WHERE top_up_id = $1 FOR UPDATE", top_up_id
        )
    )


async def confirm(conn, top_up_id: uuid.UUID, reference: str, now: dt.datetime) -> None:
    await conn.execute(
        "UPDATE top_ups SET state = 'confirmed', payment_reference = $2, confirm_time = $3,"
        " update_time = $3 WHERE top_up_id = $1",
        top_up_id,
        reference,
        now,
    )


async def fail(conn, top_up_id: uuid.UUID, reason: str, now: dt.datetime) -> None:
    await conn.execute(
        "UPDATE top_ups SET state = 'failed', failure_reason = $2, close_time = $3,"
        " update_time = $3 WHERE top_up_id = $1",
        top_up_id,
        reason,
        now,
    )


async def refunded(
    conn, top_up_id: uuid.UUID, principal: int, clawed_back: int, reason: str, now: dt.datetime
) -> None:
    await conn.execute(
        "UPDATE top_ups SET state = 'refunded',"
        " refunded_principal_minor = refunded_principal_minor + $2,"
        " clawed_back_bonus_minor = clawed_back_bonus_minor + $3, refund_reason = $4,"
        " close_time = $5, update_time = $5 WHERE top_up_id = $1",
        top_up_id,
        principal,
        clawed_back,
        reason,
        now,
    )


async def pending_total(conn, member_id: uuid.UUID) -> int:
    return await conn.fetchval(
        "SELECT coalesce(sum(amount_minor), 0)::bigint FROM top_ups"
        " WHERE member_id = $1 AND state = 'pending'",
        member_id,
    )


@dataclass(frozen=True)
class BonusPolicy:
    version: int
    currency_code: str
    tiers: list[tuple[int, int]]  # (min_top_up_minor, bonus_minor)
    enabled: bool
    updated_by: str
    effective_time: dt.datetime


def _policy(row) -> BonusPolicy | None:
    if row is None:
        return None
    tiers = json.loads(row["tiers"]) if isinstance(row["tiers"], str) else row["tiers"]
    return BonusPolicy(
        row["version"],
        row["currency_code"],
        [(t["min_top_up_minor"], t["bonus_minor"]) for t in tiers],
        row["enabled"],
        row["updated_by"],
        row["effective_time"],
    )


_POLICY = "SELECT version, currency_code, tiers, enabled, updated_by, effective_time"


async def bonus_policy(conn, version: int | None = None) -> BonusPolicy | None:
    if version is None:
        row = await conn.fetchrow(f"{_POLICY} FROM bonus_policies ORDER BY version DESC LIMIT 1")
    else:
        row = await conn.fetchrow(f"{_POLICY} FROM bonus_policies WHERE version = $1", version)
    return _policy(row)


async def add_bonus_policy(
    conn, currency_code: str, tiers: list[tuple[int, int]], enabled: bool, by: str, now
) -> BonusPolicy:
    row = await conn.fetchrow(
        "INSERT INTO bonus_policies (version, currency_code, tiers, enabled, updated_by,"
        " effective_time) SELECT coalesce(max(version), 0) + 1, $1, $2::jsonb, $3, $4, $5"
        " FROM bonus_policies RETURNING version, currency_code, tiers, enabled, updated_by,"
        " effective_time",
        currency_code,
        json.dumps([{"min_top_up_minor": m, "bonus_minor": b} for m, b in tiers]),
        enabled,
        by,
        now,
    )
    policy = _policy(row)
    assert policy is not None
    return policy
