"""Reconciliation: proves the journal balances and every kept balance equals its journal sum."""

from __future__ import annotations

from services.kit import journal

# Each query returns the rows that break one of points' invariants (the kit adds the journal's).
CHECKS = {
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
    "merchant_budgets": journal.balance_check(
        "merchant_budgets", "merchant_id", "balance", "merchant_budget"
    ),
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
    """Every broken invariant (the journal's own and points') with the rows that break it; an
    empty dict means consistent. See `journal.reconcile`."""
    return await journal.reconcile(conn, CHECKS)


async def snapshot(pool) -> dict[str, list[tuple[str, str]]]:
    return await journal.snapshot(pool, CHECKS)
