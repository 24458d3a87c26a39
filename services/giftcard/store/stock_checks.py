"""The reconciliation's SQL for stock (cards by product, face value and state) and for the
findings: the journal's and the kept balances' invariants, cards holding value in a state that
holds none, payments applied with a problem, disputed sales.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from services.kit import journal

from ..domain import accounts as acc
from ..domain.reconciliation import (
    VALUELESS_STATES,
    Finding,
    FindingKind,
)
from ..domain.states import CardState
from .journal import KEPT


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
