"""A member's stored-value history: the journal's postings on its accounts, newest first."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass


@dataclass(frozen=True)
class Entry:
    posting_id: int
    txn_id: uuid.UUID
    account: str
    amount: int
    entry_kind: str
    reference: str
    reason: str
    created_at: dt.datetime


async def page(conn, member_id: uuid.UUID, before: int | None, limit: int) -> list[Entry]:
    rows = await conn.fetch(
        "SELECT p.posting_id, p.txn_id, p.account, p.amount, p.entry_kind, t.reference,"
        " t.reason, p.created_at FROM journal_postings p JOIN journal_transactions t USING (txn_id)"
        " WHERE p.member_id = $1 AND ($2::bigint IS NULL OR p.posting_id < $2)"
        " ORDER BY p.posting_id DESC LIMIT $3",
        member_id,
        before,
        limit,
    )
    return [Entry(**dict(r)) for r in rows]
