"""What a holder reads: a member's bound cards, a card's history (its journal postings)."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from .cards import COLUMNS, Card, card_of


async def member_cards(
    conn, member_id: uuid.UUID, state: str | None, after: tuple | None, limit: int
) -> list[Card]:
    """Newest binding first; `after` is the last row's (bind_time, card_id)."""
    rows = await conn.fetch(
        f"SELECT {COLUMNS} FROM cards WHERE member_id = $1"
        " AND ($2::text IS NULL OR state = $2)"
        " AND ($3::timestamptz IS NULL OR (bind_time, card_id) < ($3, $4::uuid))"
        " ORDER BY bind_time DESC, card_id DESC LIMIT $5",
        member_id,
        state,
        after[0] if after else None,
        after[1] if after else None,
        limit,
    )
    return [c for c in map(card_of, rows) if c is not None]


@dataclass(frozen=True)
class Entry:
    posting_id: int
    txn_id: uuid.UUID
    account: str
    amount: int
    entry_kind: str
    reference: str
    reason: str
    actor: str
    created_at: dt.datetime


async def card_entries(
    conn,
    card_id: uuid.UUID,
    kind: str | None,
    start: dt.datetime | None,
    end: dt.datetime | None,
    before: int | None,
    limit: int,
) -> list[Entry]:
    rows = await conn.fetch(
        "SELECT p.posting_id, p.txn_id, p.account, p.amount, p.entry_kind, t.reference,"
        " t.reason, t.actor, p.created_at FROM journal_postings p"
        " JOIN journal_transactions t USING (txn_id)"
        " WHERE p.account IN ('card_available', 'card_held') AND p.owner = $1"
        " AND ($2::text IS NULL OR p.entry_kind = $2)"
        " AND ($3::timestamptz IS NULL OR p.created_at >= $3)"
        " AND ($4::timestamptz IS NULL OR p.created_at < $4)"
        " AND ($5::bigint IS NULL OR p.posting_id < $5)"
        " ORDER BY p.posting_id DESC LIMIT $6",
        str(card_id),
        kind,
        start,
        end,
        before,
        limit,
    )
    return [Entry(**dict(r)) for r in rows]
