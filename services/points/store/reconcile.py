"""Reconciliation: proves the journal balances and every kept balance equals its journal sum."""

from __future__ import annotations

# Each query returns the rows that break one invariant; all empty means the books are right.
CHECKS = {
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
    # Member buckets equal the sums of their postings (debt is a receivable: minus its sum).
    "member_buckets": """
        WITH sums AS (
            SELECT member_id,
                   sum(amount) FILTER (WHERE account = 'member_available') AS available,
                   sum(amount) FILTER (WHERE account = 'member_pending') AS pending,
                   sum(amount) FILTER (WHERE account = 'member_held') AS held,
                   -sum(amount) FILTER (WHERE account = 'member_debt') AS debt
            FROM journal_postings WHERE member_id IS NOT NULL GROUP BY member_id)
        SELECT a.member_id::text AS key,
               (a.available - coalesce(s.available, 0)) || ',' || (a.pending - coalesce(s.pending, 0))
               || ',' || (a.held - coalesce(s.held, 0)) || ',' || (a.debt - coalesce(s.debt, 0))
               AS difference
        FROM member_accounts a LEFT JOIN sums s USING (member_id)
        WHERE a.available <> coalesce(s.available, 0) OR a.pending <> coalesce(s.pending, 0)
           OR a.held <> coalesce(s.held, 0) OR a.debt <> coalesce(s.debt, 0)
    """,
    # Postings of members points has no account for.
    "unknown_members": """
        SELECT DISTINCT p.member_id::text AS key, 0 AS difference FROM journal_postings p
        WHERE p.member_id IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM member_accounts a WHERE a.member_id = p.member_id)
    """,
    # Merchant budgets equal the sums of their postings.
    "merchant_budgets": """
        WITH sums AS (SELECT owner, sum(amount) AS balance FROM journal_postings
                      WHERE account = 'merchant_budget' GROUP BY owner)
        SELECT coalesce(b.merchant_id, s.owner) AS key,
               coalesce(b.balance, 0) - coalesce(s.balance, 0) AS difference
        FROM merchant_budgets b FULL JOIN sums s ON s.owner = b.merchant_id
        WHERE coalesce(b.balance, 0) <> coalesce(s.balance, 0)
    """,
    # Available points are exactly the points left in the member's lots.
    "lots_vs_available": """
        SELECT a.member_id::text AS key,
               a.available - coalesce(sum(l.remaining), 0) AS difference
        FROM member_accounts a LEFT JOIN lots l ON l.member_id = a.member_id
        GROUP BY a.member_id, a.available HAVING a.available <> coalesce(sum(l.remaining), 0)
    """,
    # Held points are exactly the holds still held.
    "holds_vs_held": """
        SELECT a.member_id::text AS key,
               a.held - coalesce(sum(h.amount) FILTER (WHERE h.state = 'held'), 0) AS difference
        FROM member_accounts a LEFT JOIN holds h ON h.member_id = a.member_id
        GROUP BY a.member_id, a.held
        HAVING a.held <> coalesce(sum(h.amount) FILTER (WHERE h.state = 'held'), 0)
    """,
}


async def reconcile(conn) -> dict[str, list[tuple[str, str]]]:
    """Every broken invariant with the rows that break it; an empty dict means consistent.

    Run it in a REPEATABLE READ transaction (see `snapshot`) for a consistent picture while
    the service keeps writing.
    """
    problems: dict[str, list[tuple[str, str]]] = {}
    for name, sql in CHECKS.items():
        rows = await conn.fetch(sql)
        if rows:
            problems[name] = [(r["key"], str(r["difference"])) for r in rows]
    return problems


async def snapshot(pool) -> dict[str, list[tuple[str, str]]]:
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        return await reconcile(conn)


async def totals(conn) -> dict[str, int]:
    """Sum of postings per account kind (the whole journal sums to zero)."""
    rows = await conn.fetch(
        "SELECT account, sum(amount)::bigint AS total FROM journal_postings GROUP BY account"
    )
    return {r["account"]: r["total"] for r in rows}
