"""The reconciliation's SQL: the day's postings by account and direction, the liability from the
balances and from the journal, stock, the journal's checks, and the reports (append-only: a
re-run is the day's next revision).

Days are the journal's `business_day`: the flows of day D are the postings of the transactions
of D, the liability at the end of D is the kept balances now less the postings of later days.
A transaction's currency is that of the cards and stored value it moves.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from services.kit import journal

from ..domain import accounts as acc
from ..domain.reconciliation import (
    BONUS_ACCOUNTS,
    CARD_ACCOUNTS,
    KEPT_ACCOUNTS,
    PRINCIPAL_ACCOUNTS,
    STOCK_STATES,
    VALUELESS_STATES,
    Finding,
    FindingKind,
    Liability,
    Line,
    LineAmount,
    StoredValueSplit,
    Sum,
)
from ..domain.states import CardState
from .journal import KEPT

SV_ACCOUNTS = PRINCIPAL_ACCOUNTS + BONUS_ACCOUNTS
_STOCK = sorted(s.value for s in STOCK_STATES)

# The postings of the day's transactions in one currency (a transaction without a kept
# balance, which no writer makes, counts in the service's own currency: $3).
_DAY = """
WITH day_postings AS (
    SELECT p.txn_id, p.account, p.owner, p.amount, p.entry_kind
    FROM journal_transactions t JOIN journal_postings p ON p.txn_id = t.txn_id
    WHERE t.business_day = $1
), txn_currency AS (
    SELECT d.txn_id, coalesce(min(coalesce(c.currency_code, s.currency_code)), $3) AS currency
    FROM day_postings d
    LEFT JOIN cards c
        ON c.card_id = CASE WHEN d.account = ANY($4::text[]) THEN d.owner::uuid END
    LEFT JOIN stored_value s
        ON s.member_id = CASE WHEN d.account = ANY($5::text[]) THEN d.owner::uuid END
    GROUP BY d.txn_id
), postings AS (
    SELECT d.* FROM day_postings d JOIN txn_currency USING (txn_id) WHERE currency = $2
)
"""


def _day_args(day: dt.date, currency: str, default_currency: str) -> tuple:
    return (day, currency, default_currency, list(CARD_ACCOUNTS), list(SV_ACCOUNTS))


async def day_postings(
    conn, day: dt.date, currency: str, default_currency: str
) -> dict[tuple[str, str, int], Sum]:
    """The day's postings summed by (account, entry kind, direction)."""
    rows = await conn.fetch(
        _DAY + "SELECT account, entry_kind, sign(amount)::int AS direction, count(*) AS n,"
        " sum(amount)::bigint AS amount FROM postings GROUP BY 1, 2, 3",
        *_day_args(day, currency, default_currency),
    )
    return {(r["account"], r["entry_kind"], r["direction"]): Sum(r["n"], r["amount"]) for r in rows}


async def stored_value_split(
    conn, day: dt.date, currency: str, default_currency: str
) -> StoredValueSplit:
    """Principal and bonus spent and given back on the day: the kept side of each transaction
    posting on sv_redemptions (positive there: spent)."""
    row = await conn.fetchrow(
        _DAY
        + """, per_txn AS (
            SELECT txn_id,
                sum(amount) FILTER (WHERE account = $6) AS counter,
                coalesce(sum(amount) FILTER (WHERE account = ANY($7::text[])), 0) AS principal,
                coalesce(sum(amount) FILTER (WHERE account = ANY($8::text[])), 0) AS bonus
            FROM postings GROUP BY txn_id HAVING bool_or(account = $6)
        )
        SELECT coalesce(sum(-principal) FILTER (WHERE counter > 0), 0)::bigint AS principal_spent,
               coalesce(sum(-bonus) FILTER (WHERE counter > 0), 0)::bigint AS bonus_spent,
               coalesce(sum(principal) FILTER (WHERE counter < 0), 0)::bigint
                   AS principal_restored,
               coalesce(sum(bonus) FILTER (WHERE counter < 0), 0)::bigint AS bonus_restored
        FROM per_txn""",
        *_day_args(day, currency, default_currency),
        acc.SV_REDEMPTIONS,
        list(PRINCIPAL_ACCOUNTS),
        list(BONUS_ACCOUNTS),
    )
    return StoredValueSplit(**dict(row))


async def activated(conn, currency: str, start: dt.datetime, end: dt.datetime) -> Sum:
    """Cards first activated in [start, end) by a sale or an exchange (a replacement's
    activation is a transfer): how many, and their face value."""
    row = await conn.fetchrow(
        "SELECT count(*) AS n, coalesce(sum(face_value_minor), 0)::bigint AS amount FROM cards"
        " WHERE currency_code = $1 AND activate_time >= $2 AND activate_time < $3"
        " AND replaces_card_id IS NULL",
        currency,
        start,
        end,
    )
    return Sum(row["n"], row["amount"])


# Per part: cards (split by whether they were sold at the instant $3), principal, bonus.
_PARTS = """
SELECT
    coalesce(sum(card_value) FILTER (WHERE NOT sold), 0)::bigint AS cards_in_stock,
    coalesce(sum(card_value) FILTER (WHERE sold), 0)::bigint AS cards_sold,
    coalesce(sum(principal), 0)::bigint AS principal,
    coalesce(sum(bonus), 0)::bigint AS bonus
FROM parts
"""
# A card was sold at an instant when it is past stock now and was activated before then (a
# card never returns to stock once sold). Cancelled and voided cards left stock without a sale.
_SOLD = (
    "(c.state <> ALL($4::text[]) AND c.state NOT IN ('cancelled', 'voided')"
    " AND (c.activate_time IS NULL OR c.activate_time < $3))"
)


async def liability_after(conn, day: dt.date, currency: str, instant: dt.datetime) -> Liability:
    """What the balances say was owed at the end of `day` (at most `instant`): the kept
    columns now, less what later days posted on them."""
    row = await conn.fetchrow(
        f"""
        WITH later AS (
            SELECT p.account, p.owner, sum(p.amount) AS amount
            FROM journal_transactions t JOIN journal_postings p ON p.txn_id = t.txn_id
            WHERE t.business_day > $1 AND p.account = ANY($5::text[])
            GROUP BY 1, 2
        ), card_later AS (
            SELECT owner, sum(amount) AS amount FROM later
            WHERE account = ANY($6::text[]) GROUP BY owner
        ), principal_later AS (
            SELECT owner, sum(amount) AS amount FROM later
            WHERE account = ANY($7::text[]) GROUP BY owner
        ), bonus_later AS (
            SELECT owner, sum(amount) AS amount FROM later
            WHERE account = ANY($8::text[]) GROUP BY owner
        ), parts AS (
            SELECT c.balance_minor + c.held_minor - coalesce(l.amount, 0) AS card_value,
                   {_SOLD} AS sold, 0 AS principal, 0 AS bonus
            FROM cards c LEFT JOIN card_later l ON l.owner = c.card_id::text
            WHERE c.currency_code = $2
            UNION ALL
            SELECT 0, false,
                   s.principal_minor + s.held_principal_minor - coalesce(pl.amount, 0),
                   s.bonus_minor + s.held_bonus_minor - coalesce(bl.amount, 0)
            FROM stored_value s
            LEFT JOIN principal_later pl ON pl.owner = s.member_id::text
            LEFT JOIN bonus_later bl ON bl.owner = s.member_id::text
            WHERE s.currency_code = $2
        )
        {_PARTS}""",
        day,
        currency,
        instant,
        _STOCK,
        list(KEPT_ACCOUNTS),
        list(CARD_ACCOUNTS),
        list(PRINCIPAL_ACCOUNTS),
        list(BONUS_ACCOUNTS),
    )
    return Liability(**dict(row))


async def liability_before(conn, day: dt.date, currency: str, instant: dt.datetime) -> Liability:
    """What the journal says was owed before `day` (at `instant`, its start): the postings of
    earlier days on the kept balances."""
    row = await conn.fetchrow(
        f"""
        WITH before AS (
            SELECT p.account, p.owner, sum(p.amount) AS amount
            FROM journal_transactions t JOIN journal_postings p ON p.txn_id = t.txn_id
            WHERE t.business_day < $1 AND p.account = ANY($5::text[])
            GROUP BY 1, 2
        ), parts AS (
            SELECT b.amount AS card_value, {_SOLD} AS sold, 0 AS principal, 0 AS bonus
            FROM before b JOIN cards c ON c.card_id = b.owner::uuid
            WHERE b.account = ANY($6::text[]) AND c.currency_code = $2
            UNION ALL
            SELECT 0, false,
                   CASE WHEN b.account = ANY($7::text[]) THEN b.amount ELSE 0 END,
                   CASE WHEN b.account = ANY($8::text[]) THEN b.amount ELSE 0 END
            FROM before b JOIN stored_value s ON s.member_id = b.owner::uuid
            WHERE b.account = ANY($9::text[]) AND s.currency_code = $2
        )
        {_PARTS}""",
        day,
        currency,
        instant,
        _STOCK,
        list(KEPT_ACCOUNTS),
        list(CARD_ACCOUNTS),
        list(PRINCIPAL_ACCOUNTS),
        list(BONUS_ACCOUNTS),
        list(SV_ACCOUNTS),
    )
    return Liability(**dict(row))


# --- stock ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class StockRow:
    product_id: uuid.UUID
    currency_code: str
    face_value_minor: int
    state: CardState
    card_count: int
    balance_minor: int  # held value included


_STATE_ORDER = {state: i for i, state in enumerate(CardState)}


async def stock(
    conn, currency: str | None = None, product_id: uuid.UUID | None = None
) -> list[StockRow]:
    """Cards by product, face value and state, with what they hold; by product, face value,
    then state (in the order of the card's life)."""
    rows = await conn.fetch(
        "SELECT product_id, currency_code, face_value_minor, state, count(*) AS card_count,"
        " sum(balance_minor + held_minor)::bigint AS balance_minor FROM cards"
        " WHERE ($1::text IS NULL OR currency_code = $1)"
        " AND ($2::uuid IS NULL OR product_id = $2)"
        " GROUP BY product_id, currency_code, face_value_minor, state",
        currency,
        product_id,
    )
    found = [
        StockRow(
            r["product_id"],
            r["currency_code"],
            r["face_value_minor"],
            CardState(r["state"]),
            r["card_count"],
            r["balance_minor"],
        )
        for r in rows
    ]
    return sorted(
        found,
        key=lambda s: (
            str(s.product_id),
            s.face_value_minor,
            s.currency_code,
            _STATE_ORDER[s.state],
        ),
    )


async def valueless_with_value(conn, currency: str, limit: int) -> list[tuple[str, CardState, int]]:
    """Cards holding value in a state that carries none (a blank, a closed or expired card)."""
    rows = await conn.fetch(
        "SELECT card_id::text AS card_id, state, balance_minor + held_minor AS value FROM cards"
        " WHERE currency_code = $1 AND state = ANY($2::text[])"
        " AND (balance_minor <> 0 OR held_minor <> 0) ORDER BY card_id LIMIT $3",
        currency,
        sorted(s.value for s in VALUELESS_STATES),
        limit,
    )
    return [(r["card_id"], CardState(r["state"]), r["value"]) for r in rows]


# --- the journal's checks -------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    """A check's rows are (key, difference = found − booked); `found` reads the value found
    for the keys ($1), so a finding says both amounts."""

    kind: FindingKind
    sql: str
    found: str
    what: str  # "{key}", "{found}", "{booked}" filled in


def _held_holds(column: str, where: str, account: str) -> str:
    return f"""
        WITH held AS (SELECT {column}::text AS owner, sum({{amount}}) AS total FROM holds
                      WHERE state = 'held' AND {where} GROUP BY {column}),
             sums AS (SELECT owner, sum(amount) AS total FROM journal_postings
                      WHERE account = '{account}' GROUP BY owner)
        SELECT coalesce(h.owner, s.owner) AS key,
               coalesce(h.total, 0) - coalesce(s.total, 0) AS difference
        FROM held h FULL JOIN sums s ON s.owner = h.owner
        WHERE coalesce(h.total, 0) <> coalesce(s.total, 0)
    """


def _holds_found(column: str, where: str) -> str:
    return (
        f"SELECT {column}::text AS key, sum({{amount}})::bigint AS value FROM holds"
        f" WHERE state = 'held' AND {where} AND {column}::text = ANY($1::text[])"
        f" GROUP BY {column}"
    )


def _checks() -> dict[str, Check]:
    checks: dict[str, Check] = {
        "unbalanced_transactions": Check(
            FindingKind.JOURNAL_UNBALANCED,
            journal.JOURNAL_CHECKS["unbalanced_transactions"],
            "SELECT txn_id::text AS key, sum(amount)::bigint AS value FROM journal_postings"
            " WHERE txn_id::text = ANY($1::text[]) GROUP BY txn_id",
            "transaction {key}: its postings sum to {found}, not 0",
        ),
        "empty_transactions": Check(
            FindingKind.JOURNAL_UNBALANCED,
            journal.JOURNAL_CHECKS["empty_transactions"],
            "SELECT unnest($1::text[]) AS key, 0::bigint AS value",
            "transaction {key} has no postings",
        ),
    }
    # Every kept balance equals its postings.
    for account, (table, key, column) in KEPT.items():
        owner = "card" if table == "cards" else "member"
        checks[account] = Check(
            FindingKind.BALANCE,
            journal.balance_check(table, key, column, account),
            f"SELECT {key}::text AS key, {column}::bigint AS value FROM {table}"
            f" WHERE {key}::text = ANY($1::text[])",
            f"{owner} {{key}}: {column} {{found}} but its {account} postings sum to {{booked}}",
        )
    # What HELD holds reserve equals the held postings.
    for name, column, where, amount, account in (
        ("card_holds", "card_id", "card_id IS NOT NULL", "amount_minor", acc.CARD_HELD),
        (
            "stored_value_principal_holds",
            "member_id",
            "source_kind = 'stored_value'",
            "amount_minor - bonus_minor",
            acc.SV_HELD_PRINCIPAL,
        ),
        (
            "stored_value_bonus_holds",
            "member_id",
            "source_kind = 'stored_value'",
            "bonus_minor",
            acc.SV_HELD_BONUS,
        ),
    ):
        owner = "card" if column == "card_id" else "member"
        checks[name] = Check(
            FindingKind.BALANCE,
            _held_holds(column, where, account).replace("{amount}", amount),
            _holds_found(column, where).replace("{amount}", amount),
            f"{owner} {{key}}: HELD holds reserve {{found}} but its {account} postings sum to"
            " {booked}",
        )
    return checks


CHECKS = _checks()


async def journal_findings(conn, limit: int) -> list[Finding]:
    """The journal's own invariants and every kept balance against its postings
    (kit.journal.reconcile), at most `limit` findings per check (and one saying how many more)."""
    problems = await journal.reconcile(conn, {k: c.sql for k, c in CHECKS.items()})
    findings: list[Finding] = []
    for name, rows in problems.items():
        check = CHECKS[name]
        shown = rows[:limit]
        found = {
            r["key"]: r["value"] for r in await conn.fetch(check.found, [key for key, _ in shown])
        }
        for key, difference in shown:
            actual = found.get(key) or 0
            booked = actual - int(difference)
            findings.append(
                Finding(
                    check.kind,
                    key,
                    booked,
                    actual,
                    check.what.format(key=key, found=actual, booked=booked),
                )
            )
        if len(rows) > limit:
            findings.append(
                Finding(check.kind, "", 0, 0, f"{name}: {len(rows) - limit} more not listed")
            )
    return findings


async def order_problems(
    conn, currency: str, default_currency: str, start: dt.datetime, end: dt.datetime, limit: int
) -> list[Finding]:
    """Order payments applied with a problem in [start, end)."""
    rows = await conn.fetch(
        "SELECT op.order_id, op.gift_card_amount_minor, op.captured_minor, op.problem,"
        " op.description FROM order_payments op"
        " WHERE op.problem <> '' AND op.apply_time >= $2 AND op.apply_time < $3"
        " AND coalesce((SELECT min(h.currency_code) FROM holds h WHERE h.order_id = op.order_id),"
        " $4) = $1 ORDER BY op.apply_time, op.order_id LIMIT $5",
        currency,
        start,
        end,
        default_currency,
        limit,
    )
    return [
        Finding(
            FindingKind.ORDER_PAYMENT,
            r["order_id"],
            r["gift_card_amount_minor"],
            r["captured_minor"],
            f"order {r['order_id']}: {r['problem']}: {r['description']}"[:1000],
        )
        for r in rows
    ]


async def disputed_sales(
    conn, currency: str, start: dt.datetime, end: dt.datetime, limit: int
) -> list[Finding]:
    """Sales finance marked DISPUTED in [start, end)."""
    rows = await conn.fetch(
        "SELECT sale_id::text AS sale_id, face_value_total_minor, paid_amount_minor, check_note"
        " FROM sales WHERE currency_code = $1 AND check_state = 'disputed'"
        " AND check_time >= $2 AND check_time < $3 ORDER BY check_time, sale_id LIMIT $4",
        currency,
        start,
        end,
        limit,
    )
    return [
        Finding(
            FindingKind.SALE_DISPUTED,
            r["sale_id"],
            r["face_value_total_minor"],
            r["paid_amount_minor"],
            f"sale {r['sale_id']} disputed: {r['check_note']}"[:1000],
        )
        for r in rows
    ]


async def currencies(conn, default_currency: str) -> list[str]:
    """The currencies with cards or stored value: the products' and the service's own."""
    rows = await conn.fetch("SELECT DISTINCT currency_code FROM products")
    return sorted({default_currency, *(r["currency_code"] for r in rows)})


# --- reports --------------------------------------------------------------------------------


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
