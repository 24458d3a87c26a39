"""Giftcard's journal: a transaction row and its postings (kit.journal), and the balances the
postings move, kept on the cards and stored-value rows."""

from __future__ import annotations

import datetime as dt
import uuid

from services.kit import ids, journal
from services.kit.postings import Posting

from ..domain.accounts import (
    CARD_AVAILABLE,
    CARD_HELD,
    SV_BONUS,
    SV_HELD_BONUS,
    SV_HELD_PRINCIPAL,
    SV_PRINCIPAL,
)

# Accounts kept as balance columns: (table, key column, column) by journal account.
KEPT: dict[str, tuple[str, str, str]] = {
    CARD_AVAILABLE: ("cards", "card_id", "balance_minor"),
    CARD_HELD: ("cards", "card_id", "held_minor"),
    SV_PRINCIPAL: ("stored_value", "member_id", "principal_minor"),
    SV_BONUS: ("stored_value", "member_id", "bonus_minor"),
    SV_HELD_PRINCIPAL: ("stored_value", "member_id", "held_principal_minor"),
    SV_HELD_BONUS: ("stored_value", "member_id", "held_bonus_minor"),
}
MEMBER_ACCOUNTS = (SV_PRINCIPAL, SV_BONUS, SV_HELD_PRINCIPAL, SV_HELD_BONUS)


async def post(
    conn,
    kind: str,
    postings: list[Posting],
    *,
    business_day: dt.date,
    card_id: uuid.UUID | None = None,
    member_id: uuid.UUID | None = None,
    reference: str = "",
    reason: str = "",
    actor: str = "",
) -> uuid.UUID:
    """Write a balanced transaction and move the kept balances it touches, in the caller's
    transaction (which holds the rows' locks). A balance that would go below zero fails the
    CHECK constraint: the use case checked it first, so that is a bug, not a refusal."""
    txn_id = ids.new_id()
    await conn.execute(
        "INSERT INTO journal_transactions (txn_id, kind, card_id, member_id, reference, reason,"
        " actor, business_day) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        txn_id,
        kind,
        card_id,
        member_id,
        reference,
        reason,
        actor,
        business_day,
    )
    await journal.write_postings(conn, txn_id, postings, MEMBER_ACCOUNTS)
    # The kept balances the postings move: one UPDATE per row, every column of it at once.
    rows: dict[tuple[str, str, str], dict[str, int]] = {}
    for p in postings:
        if p.account in KEPT:
            table, key, column = KEPT[p.account]
            columns = rows.setdefault((table, key, p.owner), {})
            columns[column] = columns.get(column, 0) + p.amount
    for (table, key, owner), columns in rows.items():
        moved = {c: d for c, d in columns.items() if d}
        if not moved:
            continue
        sets = ", ".join(f"{c} = {c} + ${i}" for i, c in enumerate(moved, start=2))
        status = await conn.execute(
            f"UPDATE {table} SET {sets}, update_time = now() WHERE {key} = $1",
            uuid.UUID(owner),
            *moved.values(),
        )
        if status != "UPDATE 1":  # the journal would move a balance nobody keeps
            raise RuntimeError(f"no {table} row {owner} for {', '.join(moved)}")
    return txn_id


# Every kept balance equals the sum of its postings (the journal's own checks come with them).
CHECKS: dict[str, str] = {
    f"{table}.{column}": journal.balance_check(table, key, column, account)
    for account, (table, key, column) in KEPT.items()
}
CHECKS["holds_vs_card_held"] = """
    SELECT c.card_id::text AS key,
           c.held_minor - coalesce(sum(h.amount_minor) FILTER (WHERE h.state = 'held'), 0)
             AS difference
    FROM cards c LEFT JOIN holds h ON h.card_id = c.card_id
    GROUP BY c.card_id, c.held_minor
    HAVING c.held_minor <> coalesce(sum(h.amount_minor) FILTER (WHERE h.state = 'held'), 0)
"""


async def problems(pool) -> dict[str, list[tuple[str, str]]]:
    """Every broken invariant of the books (empty: consistent), read in one snapshot."""
    return await journal.snapshot(pool, CHECKS)
