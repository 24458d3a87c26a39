"""The journal in PostgreSQL: a service's `journal_transactions` (its own columns) and
`journal_postings` (the same shape everywhere), append-only and balanced at commit by the kit's
trigger functions (kit_0006), and reconciliation checks that prove the books.

A service's migration creates the two tables with at least these columns

    journal_transactions (txn_id uuid PRIMARY KEY, …)
    journal_postings (posting_id bigserial PRIMARY KEY, txn_id uuid REFERENCES …,
                      account text, owner text, amount bigint CHECK (amount <> 0),
                      entry_kind text, member_id uuid, created_at timestamptz DEFAULT now())

and attaches `kit_journal_balanced()` (a deferred constraint trigger on the postings) and
`kit_append_only()` (before update or delete, on both).
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping, Sequence

import asyncpg

from . import db
from .postings import Posting


async def write_postings(
    conn: asyncpg.Connection | db.Batch,
    txn_id: uuid.UUID,
    postings: Sequence[Posting],
    member_accounts: Collection[str] = (),
) -> None:
    """Insert a transaction's postings in one statement. A posting on one of `member_accounts`
    has `member_id` set to its owner (a member's history reads them by it)."""
    if sum(p.amount for p in postings) != 0 or not postings:
        raise ValueError(f"unbalanced postings: {postings}")
    await conn.execute(
        "INSERT INTO journal_postings (txn_id, account, owner, amount, entry_kind, member_id)"
        " SELECT $1, a, o, m, k, CASE WHEN a = ANY($6::text[]) THEN o::uuid END"
        " FROM unnest($2::text[], $3::text[], $4::bigint[], $5::text[]) AS p(a, o, m, k)",
        txn_id,
        [p.account for p in postings],
        [p.owner for p in postings],
        [p.amount for p in postings],
        [p.kind for p in postings],
        list(member_accounts),
    )


# Each check is a query returning (key, difference) rows that break one invariant.
JOURNAL_CHECKS: dict[str, str] = {
    # Every transaction's postings sum to zero.
    "unbalanced_transactions": """
        SELECT txn_id::text AS key, sum(amount) AS difference
        FROM journal_postings GROUP BY txn_id HAVING sum(amount) <> 0
    """,
    # A transaction without postings posts nothing and should not exist.
    "empty_transactions": """
        SELECT t.txn_id::text AS key, 0 AS difference FROM journal_transactions t
        WHERE NOT EXISTS (SELECT 1 FROM journal_postings p WHERE p.txn_id = t.txn_id)
    """,
}


def balance_check(table: str, key: str, column: str, account: str, sign: int = 1) -> str:
    """A check that a kept balance (`table.column`, per `key`) equals the sum of the postings
    on `account` owned by that key (times `sign`: -1 for a receivable kept positive). Names are
    the service's own constants, never input."""
    return f"""
        WITH sums AS (SELECT owner, {sign} * sum(amount) AS total FROM journal_postings
                      WHERE account = '{account}' GROUP BY owner)
        SELECT coalesce(t.{key}::text, s.owner) AS key,
               coalesce(t.{column}, 0) - coalesce(s.total, 0) AS difference
        FROM {table} t FULL JOIN sums s ON s.owner = t.{key}::text
        WHERE coalesce(t.{column}, 0) <> coalesce(s.total, 0)
    """


async def reconcile(conn, checks: Mapping[str, str]) -> dict[str, list[tuple[str, str]]]:
    """Every broken invariant of `checks` (and the journal's own) with the rows that break it;
    an empty dict means the books are right. Run it in one REPEATABLE READ transaction
    (`snapshot`) for a consistent picture while the service keeps writing."""
    problems: dict[str, list[tuple[str, str]]] = {}
    for name, sql in {**JOURNAL_CHECKS, **checks}.items():
        rows = await conn.fetch(sql)
        if rows:
            problems[name] = [(r["key"], str(r["difference"])) for r in rows]
    return problems


async def snapshot(pool, checks: Mapping[str, str]) -> dict[str, list[tuple[str, str]]]:
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        return await reconcile(conn, checks)


async def totals(conn) -> dict[str, int]:
    """The sum of postings per account (the whole journal sums to zero)."""
    rows = await conn.fetch(
        "SELECT account, sum(amount)::bigint AS total FROM journal_postings GROUP BY account"
    )
    return {r["account"]: r["total"] for r in rows}
