"""The reconciliation's SQL for the flows and the liability: the day's postings by account and
direction, the liability from the balances and from the journal, the currencies in use (stock
and checks: store/stock_checks.py; the reports: store/reports.py).

Days are the journal's `business_day`: the flows of day D are the postings of the transactions
of D, the liability at the end of D is the kept balances now less the postings of later days.
A transaction's currency is that of the cards and stored value it moves.
"""

from __future__ import annotations

import datetime as dt

from ..domain import accounts as acc
from ..domain.reconciliation import (
    BONUS_ACCOUNTS,
    CARD_ACCOUNTS,
    KEPT_ACCOUNTS,
    PRINCIPAL_ACCOUNTS,
    STOCK_STATES,
    Liability,
    StoredValueSplit,
    Sum,
)

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


async def currencies(conn, default_currency: str) -> list[str]:
    """The currencies with cards or stored value: the products' and the service's own."""
    rows = await conn.fetch("SELECT DISTINCT currency_code FROM products")
    return sorted({default_currency, *(r["currency_code"] for r in rows)})


# --- reports --------------------------------------------------------------------------------
