"""Plans and their versions (a version is never changed once written)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import asyncpg

from services.kit import db

from ..domain import plans as rules

_COLUMNS = """plan_id, version, display_name, description, kind, price_minor, currency_code,
    trial_days, points_multiplier, member_discount_bps, benefits, on_sale, created_by,
    create_time"""


class PlanVersionTaken(db.Duplicate):
    """The version exists already (a plan created twice, or two updates at once)."""


@dataclass(frozen=True)
class BenefitRow:
    benefit_id: str
    kind: str  # domain.plans.BenefitKind's values
    display_name: str
    description: str
    quantity: int
    quota_period: str  # month | year
    value_minor: int
    coupon_template_id: str = ""
    perk_pool_id: str = ""
    service_code: str = ""


@dataclass(frozen=True)
class PlanRow:
    plan_id: str
    version: int
    display_name: str
    description: str
    kind: str  # domain.plans.PlanKind's values
    price_minor: int
    currency_code: str
    trial_days: int
    points_multiplier: int
    member_discount_bps: int
    benefits: tuple[BenefitRow, ...]
    on_sale: bool
    created_by: str
    create_time: dt.datetime
    rules: rules.Plan = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "rules", domain_plan(self))


def period(kind: rules.PlanKind, trial_days: int) -> rules.Period:
    if kind is rules.PlanKind.TRIAL:
        return rules.Period(trial_days, rules.PeriodUnit.DAY)
    return rules.Period(rules.KIND_MONTHS[kind], rules.PeriodUnit.MONTH)


def domain_plan(row: PlanRow) -> rules.Plan:
    kind = rules.PlanKind(row.kind)
    return rules.Plan(
        code=row.plan_id,
        version=row.version,
        kind=kind,
        price_minor=row.price_minor,
        currency=row.currency_code,
        period=period(kind, row.trial_days),
        points_multiplier=row.points_multiplier,
        member_discount_bp=row.member_discount_bps,
        benefits=tuple(
            rules.Benefit(
                benefit_id=b.benefit_id,
                kind=rules.BenefitKind(b.kind),
                quantity=b.quantity,
                value_minor=b.value_minor,
                window=rules.QuotaWindow(b.quota_period),
            )
            for b in row.benefits
        ),
    )


def _row(record: asyncpg.Record | None) -> PlanRow | None:
    if record is None:
        return None
    values = dict(record)
    values["benefits"] = tuple(BenefitRow(**b) for b in values["benefits"])
    return PlanRow(**values)


def _benefits(row: PlanRow) -> list[dict]:
    return [b.__dict__.copy() for b in row.benefits]


async def insert(conn: asyncpg.Connection, row: PlanRow) -> PlanRow:
    with db.duplicates({"plans_pkey": PlanVersionTaken}):
        record = await conn.fetchrow(
            f"INSERT INTO plans ({_COLUMNS})"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
            f" RETURNING {_COLUMNS}",
            row.plan_id,
            row.version,
            row.display_name,
            row.description,
            row.kind,
            row.price_minor,
            row.currency_code,
            row.trial_days,
            row.points_multiplier,
            row.member_discount_bps,
            _benefits(row),
            row.on_sale,
            row.created_by,
            row.create_time,
        )
    result = _row(record)
    assert result is not None
    return result


async def get(conn, plan_id: str, version: int | None = None) -> PlanRow | None:
    """A version of a plan, or its latest."""
    if version is None:
        record = await conn.fetchrow(
            f"SELECT {_COLUMNS} FROM plans WHERE plan_id = $1 ORDER BY version DESC LIMIT 1",
            plan_id,
        )
    else:
        record = await conn.fetchrow(
            f"SELECT {_COLUMNS} FROM plans WHERE plan_id = $1 AND version = $2",
            plan_id,
            version,
        )
    return _row(record)


async def exists(conn, plan_id: str) -> bool:
    return bool(await conn.fetchval("SELECT 1 FROM plans WHERE plan_id = $1 LIMIT 1", plan_id))


async def versions(conn, keys: set[tuple[str, int]]) -> dict[tuple[str, int], PlanRow]:
    """The plan versions named (plan_id, version)."""
    if not keys:
        return {}
    ids, numbers = zip(*keys, strict=True)
    records = await conn.fetch(
        f"SELECT {_COLUMNS} FROM plans"
        " WHERE (plan_id, version) IN (SELECT * FROM unnest($1::text[], $2::int[]))",
        list(ids),
        list(numbers),
    )
    rows = [_row(r) for r in records]
    return {(r.plan_id, r.version): r for r in rows if r is not None}


# The order ListPlans gives: by kind (monthly, quarterly, yearly, trial), then plan_id.
KIND_ORDER = {"monthly": 1, "quarterly": 2, "yearly": 3, "trial": 4}


async def latest(
    conn,
    *,
    after: tuple[int, str] | None,
    limit: int,
    on_sale_only: bool,
    kind: str | None,
) -> list[PlanRow]:
    """The latest version of each plan, by kind then plan_id, after the cursor (kind order,
    plan_id)."""
    rank_after, id_after = after if after is not None else (0, "")
    records = await conn.fetch(
        f"SELECT {_COLUMNS} FROM ("
        f"  SELECT DISTINCT ON (plan_id) {_COLUMNS},"
        "     CASE kind WHEN 'monthly' THEN 1 WHEN 'quarterly' THEN 2 WHEN 'yearly' THEN 3"
        "     ELSE 4 END AS rank"
        "   FROM plans ORDER BY plan_id, version DESC"
        ") latest"
        " WHERE (rank, plan_id) > ($1, $2) AND (NOT $3 OR on_sale)"
        "   AND ($4::text IS NULL OR kind = $4)"
        " ORDER BY rank, plan_id LIMIT $5",
        rank_after,
        id_after,
        on_sale_only,
        kind,
        limit,
    )
    return [r for r in map(_row, records) if r is not None]


async def lock_latest(conn, plan_id: str) -> PlanRow | None:
    """The latest version, its plan's versions locked against a concurrent update."""
    record = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM plans WHERE plan_id = $1 ORDER BY version DESC LIMIT 1 FOR UPDATE",
        plan_id,
    )
    return _row(record)
