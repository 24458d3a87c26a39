"""Loads (开户/充值) and their entries, and the cards they move."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

import asyncpg

from ..domain.states import CardState
from ..domain.stock import LoadState

_COLUMNS = """load_id, batch_id, state, card_count, currency_code, total_minor, loaded_by,
    load_time, reviewed_by, review_time, reject_reason, note"""


@dataclass(frozen=True)
class LoadRow:
    load_id: uuid.UUID
    batch_id: uuid.UUID
    state: LoadState
    card_count: int
    currency_code: str
    total_minor: int
    loaded_by: str
    load_time: dt.datetime
    reviewed_by: str
    review_time: dt.datetime | None
    reject_reason: str
    note: str


@dataclass(frozen=True)
class EntryRow:
    card_id: uuid.UUID
    card_number: str
    amount_minor: int


def _row(record: asyncpg.Record | None) -> LoadRow | None:
    if record is None:
        return None
    values = dict(record)
    values["state"] = LoadState(values["state"])
    return LoadRow(**values)


async def card_ids_by_number(conn, numbers: list[str]) -> dict[str, uuid.UUID]:
    records = await conn.fetch(
        "SELECT card_number, card_id FROM cards WHERE card_number = ANY($1::text[])", numbers
    )
    return {r["card_number"]: r["card_id"] for r in records}


async def insert(conn, load: LoadRow, entries: list[tuple[uuid.UUID, int]]) -> LoadRow:
    record = await conn.fetchrow(
        "INSERT INTO loads (load_id, batch_id, state, card_count, currency_code, total_minor,"
        " loaded_by, load_time, note) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        f" RETURNING {_COLUMNS}",
        load.load_id,
        load.batch_id,
        load.state.value,
        load.card_count,
        load.currency_code,
        load.total_minor,
        load.loaded_by,
        load.load_time,
        load.note,
    )
    await conn.execute(
        "INSERT INTO load_entries (load_id, card_id, amount_minor)"
        " SELECT $1, c, a FROM unnest($2::uuid[], $3::bigint[]) AS e(c, a)",
        load.load_id,
        [card_id for card_id, _ in entries],
        [amount for _, amount in entries],
    )
    row = _row(record)
    assert row is not None
    return row


async def get(conn, load_id: uuid.UUID, *, for_update: bool = False) -> LoadRow | None:
    lock = " FOR UPDATE" if for_update else ""
    return _row(
        await conn.fetchrow(f"SELECT {_COLUMNS} FROM loads WHERE load_id = $1{lock}", load_id)
    )


async def reviewed(
    conn,
    load_id: uuid.UUID,
    state: LoadState,
    reviewer: str,
    now: dt.datetime,
    reject_reason: str = "",
) -> LoadRow:
    record = await conn.fetchrow(
        "UPDATE loads SET state = $2, reviewed_by = $3, review_time = $4, reject_reason = $5"
        f" WHERE load_id = $1 RETURNING {_COLUMNS}",
        load_id,
        state.value,
        reviewer,
        now,
        reject_reason,
    )
    row = _row(record)
    assert row is not None
    return row


async def listed(
    conn,
    *,
    before: uuid.UUID | None,
    limit: int,
    batch_id: uuid.UUID | None,
    state: LoadState | None,
) -> list[LoadRow]:
    """Newest first (ids are time-ordered)."""
    records = await conn.fetch(
        f"SELECT {_COLUMNS} FROM loads"
        " WHERE ($1::uuid IS NULL OR load_id < $1) AND ($2::uuid IS NULL OR batch_id = $2)"
        " AND ($3::text IS NULL OR state = $3)"
        " ORDER BY load_id DESC LIMIT $4",
        before,
        batch_id,
        state.value if state else None,
        limit,
    )
    return [r for r in map(_row, records) if r is not None]


async def entries(
    conn, load_id: uuid.UUID, *, after: str | None = None, limit: int | None = None
) -> list[EntryRow]:
    """A load's cards and amounts, by card number."""
    records = await conn.fetch(
        "SELECT e.card_id, c.card_number, e.amount_minor FROM load_entries e"
        " JOIN cards c ON c.card_id = e.card_id"
        " WHERE e.load_id = $1 AND ($2::text IS NULL OR c.card_number > $2)"
        " ORDER BY c.card_number LIMIT $3",
        load_id,
        after,
        limit,
    )
    return [EntryRow(**dict(r)) for r in records]


async def move_cards(
    conn,
    card_ids: list[uuid.UUID],
    state: CardState,
    now: dt.datetime,
    reason: str = "",
) -> None:
    """The cards of a load to `state` at once (the caller holds their locks and checked
    every move)."""
    await conn.execute(
        "UPDATE cards SET state = $2, state_reason = $3, update_time = $4"
        " WHERE card_id = ANY($1::uuid[])",
        card_ids,
        state.value,
        reason,
        now,
    )
