"""Benefit claims: what quotas count (per member, benefit and period, across subscriptions) and
what a refund deducts."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

import asyncpg

from services.kit import db

from ..domain.refunds import BenefitUse

_COLUMNS = """claim_id, member_id, subscription_id, benefit_id, kind, period_key, plan_id,
    plan_version, value_minor, currency_code, coupon_template_id, perk_pool_id, service_code,
    claim_time"""


@dataclass(frozen=True)
class ClaimRow:
    claim_id: uuid.UUID
    member_id: uuid.UUID
    subscription_id: uuid.UUID
    benefit_id: str
    kind: str  # domain.plans.BenefitKind's values
    period_key: str
    plan_id: str
    plan_version: int
    value_minor: int
    currency_code: str
    coupon_template_id: str
    perk_pool_id: uuid.UUID | None
    service_code: str
    claim_time: dt.datetime


@dataclass(frozen=True)
class ListedClaim:
    """A claim and, for a partner perk, its code as stored (sealed)."""

    claim: ClaimRow
    code_key_id: str | None
    sealed_code: bytes | None
    code_expire_time: dt.datetime | None


async def used(conn, member_id: uuid.UUID, windows: Mapping[str, str]) -> dict[str, int]:
    """The member's claims of each benefit in its window (`windows`: benefit id → period key)."""
    if not windows:
        return {}
    records = await conn.fetch(
        "SELECT c.benefit_id, count(*)::int AS n FROM benefit_claims c"
        " JOIN unnest($2::text[], $3::text[]) AS w(benefit_id, period_key)"
        "   ON c.benefit_id = w.benefit_id AND c.period_key = w.period_key"
        " WHERE c.member_id = $1 GROUP BY c.benefit_id",
        member_id,
        list(windows),
        list(windows.values()),
    )
    return {r["benefit_id"]: r["n"] for r in records}


async def insert(conn: asyncpg.Connection | db.Batch, row: ClaimRow) -> None:
    await conn.execute(
        f"INSERT INTO benefit_claims ({_COLUMNS})"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        row.claim_id,
        row.member_id,
        row.subscription_id,
        row.benefit_id,
        row.kind,
        row.period_key,
        row.plan_id,
        row.plan_version,
        row.value_minor,
        row.currency_code,
        row.coupon_template_id,
        row.perk_pool_id,
        row.service_code,
        row.claim_time,
    )


async def listing(
    conn,
    member_id: uuid.UUID,
    *,
    after: tuple[dt.datetime, uuid.UUID] | None,
    limit: int,
    benefit_id: str,
    period_key: str,
) -> list[ListedClaim]:
    """The member's claims, newest first, after the cursor (claim_time, claim_id); empty
    filters match any."""
    time_after, id_after = after if after is not None else (None, None)
    records = await conn.fetch(
        f"SELECT {', '.join('c.' + c.strip() for c in _COLUMNS.split(','))},"
        " k.key_id AS code_key_id, k.sealed AS sealed_code, k.expire_time AS code_expire_time"
        " FROM benefit_claims c LEFT JOIN perk_codes k ON k.claim_id = c.claim_id"
        " WHERE c.member_id = $1 AND ($2 = '' OR c.benefit_id = $2)"
        "   AND ($3 = '' OR c.period_key = $3)"
        "   AND ($4::timestamptz IS NULL OR (c.claim_time, c.claim_id) < ($4, $5))"
        " ORDER BY c.claim_time DESC, c.claim_id DESC LIMIT $6",
        member_id,
        benefit_id,
        period_key,
        time_after,
        id_after,
        limit,
    )
    out = []
    for r in records:
        values = dict(r)
        key_id = values.pop("code_key_id")
        sealed = values.pop("sealed_code")
        expires = values.pop("code_expire_time")
        out.append(
            ListedClaim(ClaimRow(**values), key_id, bytes(sealed) if sealed else None, expires)
        )
    return out


async def uses(conn, member_id: uuid.UUID, since: dt.datetime) -> list[BenefitUse]:
    """The benefits `member_id` claimed from `since` on (what a refund deducts), each at the
    value its plan version gave it."""
    records = await conn.fetch(
        "SELECT benefit_id, value_minor, claim_time FROM benefit_claims"
        " WHERE member_id = $1 AND claim_time >= $2 ORDER BY claim_time, claim_id",
        member_id,
        since,
    )
    return [BenefitUse(r["benefit_id"], r["value_minor"], r["claim_time"]) for r in records]
