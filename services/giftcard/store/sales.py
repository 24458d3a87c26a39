"""Sales (销售) and finance's re-check of each (财务复核)."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from enum import StrEnum

import asyncpg

_COLUMNS = """sale_id, requisition_id, card_count, currency_code, face_value_total_minor,
    paid_amount_minor, payment_method, payment_reference, buyer_name, sold_by, sale_time,
    check_state, checked_by, check_note, check_time"""


class CheckState(StrEnum):
    """The sales.check_state column."""

    PENDING = "pending"
    CONFIRMED = "confirmed"
    DISPUTED = "disputed"


@dataclass(frozen=True)
class Sale:
    sale_id: uuid.UUID
    requisition_id: uuid.UUID
    card_count: int
    currency_code: str
    face_value_total_minor: int
    paid_amount_minor: int
    payment_method: str
    payment_reference: str
    buyer_name: str
    sold_by: str
    sale_time: dt.datetime
    check_state: CheckState
    checked_by: str
    check_note: str
    check_time: dt.datetime | None


def _sale(row: asyncpg.Record | None) -> Sale | None:
    if row is None:
        return None
    values = dict(row)
    values["check_state"] = CheckState(values["check_state"])
    return Sale(**values)


async def insert(conn, s: Sale) -> Sale:
    row = await conn.fetchrow(
        "INSERT INTO sales (sale_id, requisition_id, card_count, currency_code,"
        " face_value_total_minor, paid_amount_minor, payment_method, payment_reference,"
        " buyer_name, sold_by, sale_time, check_state)"
        f" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING {_COLUMNS}",
        s.sale_id,
        s.requisition_id,
        s.card_count,
        s.currency_code,
        s.face_value_total_minor,
        s.paid_amount_minor,
        s.payment_method,
        s.payment_reference,
        s.buyer_name,
        s.sold_by,
        s.sale_time,
        s.check_state.value,
    )
    stored = _sale(row)
    assert stored is not None
    return stored


async def get(conn, sale_id: uuid.UUID, *, for_update: bool = False) -> Sale | None:
    lock = " FOR UPDATE" if for_update else ""
    return _sale(
        await conn.fetchrow(f"SELECT {_COLUMNS} FROM sales WHERE sale_id = $1{lock}", sale_id)
    )


async def check(
    conn, sale_id: uuid.UUID, state: CheckState, checked_by: str, note: str, now: dt.datetime
) -> Sale:
    row = await conn.fetchrow(
        "UPDATE sales SET check_state = $2, checked_by = $3, check_note = $4, check_time = $5"
        f" WHERE sale_id = $1 RETURNING {_COLUMNS}",
        sale_id,
        state.value,
        checked_by,
        note,
        now,
    )
    stored = _sale(row)
    assert stored is not None
    return stored


async def page(
    conn,
    *,
    check_state: CheckState | None,
    requisition_id: uuid.UUID | None,
    before: uuid.UUID | None,
    limit: int,
) -> list[Sale]:
    """Newest first (ids are time-ordered)."""
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM sales"
        " WHERE ($1::text IS NULL OR check_state = $1)"
        " AND ($2::uuid IS NULL OR requisition_id = $2)"
        " AND ($3::uuid IS NULL OR sale_id < $3)"
        " ORDER BY sale_id DESC LIMIT $4",
        check_state.value if check_state else None,
        requisition_id,
        before,
        limit,
    )
    return [s for s in map(_sale, rows) if s is not None]
