"""The daily reconciliation reports: append-only revisions per business day and currency."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from ..domain.reconciliation import (
    Finding,
    FindingKind,
    Liability,
    Line,
    LineAmount,
)
from ..domain.states import CardState
from .stock_checks import StockRow


@dataclass(frozen=True)
class Report:
    business_day: dt.date
    currency_code: str
    revision: int
    period_start: dt.datetime
    period_end: dt.datetime
    complete: bool
    opening: Liability
    opening_from: str  # "journal", or the report it was taken from ("YYYY-MM-DD#n")
    lines: list[LineAmount]
    closing: Liability
    stock: list[StockRow]
    findings: list[Finding]
    flows: dict[str, int]  # domain.liability.report: every flow and the outstanding lines
    created_by: str
    create_time: dt.datetime

    @property
    def balanced(self) -> bool:
        return not self.findings


def _liability_json(value: Liability) -> dict[str, int]:
    return {
        "cards_in_stock_minor": value.cards_in_stock,
        "cards_sold_minor": value.cards_sold,
        "stored_value_principal_minor": value.principal,
        "stored_value_bonus_minor": value.bonus,
    }


def _liability(data: dict) -> Liability:
    return Liability(
        data["cards_in_stock_minor"],
        data["cards_sold_minor"],
        data["stored_value_principal_minor"],
        data["stored_value_bonus_minor"],
    )


def _stock_json(rows: Sequence[StockRow]) -> list[dict]:
    return [
        {
            "product_id": str(s.product_id),
            "currency_code": s.currency_code,
            "face_value_minor": s.face_value_minor,
            "state": s.state.value,
            "card_count": s.card_count,
            "balance_minor": s.balance_minor,
        }
        for s in rows
    ]


def _findings_json(findings: Sequence[Finding]) -> list[dict]:
    return [
        {
            "kind": f.kind.value,
            "reference": f.reference,
            "expected_minor": f.expected,
            "actual_minor": f.actual,
            "description": f.description,
        }
        for f in findings
    ]


_COLUMNS = """business_day, currency_code, revision, period_start, period_end, complete, opening,
    opening_from, lines, closing, stock, mismatches, flows, created_by, create_time"""


def _report(row) -> Report:
    return Report(
        business_day=row["business_day"],
        currency_code=row["currency_code"],
        revision=row["revision"],
        period_start=row["period_start"],
        period_end=row["period_end"],
        complete=row["complete"],
        opening=_liability(row["opening"]),
        opening_from=row["opening_from"],
        lines=[LineAmount(Line(x["kind"]), x["count"], x["amount_minor"]) for x in row["lines"]],
        closing=_liability(row["closing"]),
        stock=[
            StockRow(
                uuid.UUID(s["product_id"]),
                s["currency_code"],
                s["face_value_minor"],
                CardState(s["state"]),
                s["card_count"],
                s["balance_minor"],
            )
            for s in row["stock"]
        ],
        findings=[
            Finding(
                FindingKind(m["kind"]),
                m["reference"],
                m["expected_minor"],
                m["actual_minor"],
                m["description"],
            )
            for m in row["mismatches"]
        ],
        flows=dict(row["flows"]),
        created_by=row["created_by"],
        create_time=row["create_time"],
    )


async def lock_day(conn, day: dt.date, currency: str) -> None:
    """One run of a day and currency at a time (until the transaction ends)."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtext($1))", f"giftcard-reconciliation:{day}:{currency}"
    )


async def next_revision(conn, day: dt.date, currency: str) -> int:
    return await conn.fetchval(
        "SELECT coalesce(max(revision), 0) + 1 FROM reconciliation_reports"
        " WHERE business_day = $1 AND currency_code = $2",
        day,
        currency,
    )


async def insert(conn, report: Report) -> Report:
    row = await conn.fetchrow(
        f"INSERT INTO reconciliation_reports ({_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7,"
        f" $8, $9, $10, $11, $12, $13, $14, $15) RETURNING {_COLUMNS}",
        report.business_day,
        report.currency_code,
        report.revision,
        report.period_start,
        report.period_end,
        report.complete,
        _liability_json(report.opening),
        report.opening_from,
        [
            {
                "kind": x.line.value,
                "count": x.count,
                "amount_minor": x.amount,
                "effect_minor": x.effect,
            }
            for x in report.lines
        ],
        _liability_json(report.closing),
        _stock_json(report.stock),
        _findings_json(report.findings),
        report.flows,
        report.created_by,
        report.create_time,
    )
    return _report(row)


async def get(conn, day: dt.date, currency: str, revision: int | None = None) -> Report | None:
    """A day's report: the given revision, else the latest."""
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM reconciliation_reports"
        " WHERE business_day = $1 AND currency_code = $2"
        " AND ($3::integer IS NULL OR revision = $3) ORDER BY revision DESC LIMIT 1",
        day,
        currency,
        revision,
    )
    return _report(row) if row else None


async def exists(conn, day: dt.date, currency: str) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT true FROM reconciliation_reports WHERE business_day = $1"
            " AND currency_code = $2 LIMIT 1",
            day,
            currency,
        )
    )


async def latest_per_day(
    conn,
    currency: str,
    *,
    start: dt.date | None,
    end: dt.date | None,
    before: dt.date | None,
    unbalanced_only: bool,
    limit: int,
) -> list[Report]:
    """The latest revision of each day in [start, end] before `before`, newest day first."""
    rows = await conn.fetch(
        f"""SELECT {_COLUMNS} FROM (
            SELECT DISTINCT ON (business_day) {_COLUMNS} FROM reconciliation_reports
            WHERE currency_code = $1 AND ($2::date IS NULL OR business_day >= $2)
              AND ($3::date IS NULL OR business_day <= $3)
              AND ($4::date IS NULL OR business_day < $4)
            ORDER BY business_day DESC, revision DESC
        ) latest
        WHERE NOT $5 OR jsonb_array_length(mismatches) > 0
        ORDER BY business_day DESC LIMIT $6""",
        currency,
        start,
        end,
        before,
        unbalanced_only,
        limit,
    )
    return [_report(r) for r in rows]
