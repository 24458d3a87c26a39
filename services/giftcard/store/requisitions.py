"""Requisitions (领用): their rows, what their lines name of the products, and the approvals
given to many of them at once (for a listing)."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

import asyncpg

from ..domain.approvals import Approval, Role
from ..domain.selling import Line, RequisitionStage
from .approvals import Given

_COLUMNS = """requisition_id, kind, sales_desk, buyer_name, buyer_reference, lines, currency_code,
    total_minor, card_count, state, requested_by, note, policy_version, rejected_by,
    reject_reason, fulfilled_by, sold_count, returned_count, create_time, fulfil_time,
    update_time"""


@dataclass(frozen=True)
class Requisition:
    requisition_id: uuid.UUID
    kind: str  # sales_desk | bulk_purchase
    sales_desk: str
    buyer_name: str
    buyer_reference: str
    lines: tuple[Line, ...]
    currency_code: str
    total_minor: int
    card_count: int
    state: RequisitionStage
    requested_by: str
    note: str
    policy_version: int
    rejected_by: str
    reject_reason: str
    fulfilled_by: str
    sold_count: int
    returned_count: int
    create_time: dt.datetime
    fulfil_time: dt.datetime | None
    update_time: dt.datetime


@dataclass(frozen=True)
class ProductFacts:
    """What a requisition line or a sale needs of a product."""

    product_id: uuid.UUID
    kind: str  # denomination | custom
    currency_code: str
    face_value_minor: int  # 0 for custom
    validity_months: int


def _requisition(row: asyncpg.Record | None) -> Requisition | None:
    if row is None:
        return None
    values = dict(row)
    values["state"] = RequisitionStage(values["state"])
    values["lines"] = tuple(
        Line(uuid.UUID(item["product_id"]), item["face_value_minor"], item["card_count"])
        for item in values["lines"]
    )
    return Requisition(**values)


def _lines_json(lines: tuple[Line, ...]) -> list[dict]:
    return [
        {
            "product_id": str(line.product_id),
            "face_value_minor": line.face_value_minor,
            "card_count": line.card_count,
        }
        for line in lines
    ]


async def products(conn, product_ids: list[uuid.UUID]) -> dict[uuid.UUID, ProductFacts]:
    rows = await conn.fetch(
        "SELECT product_id, kind, currency_code, face_value_minor, validity_months"
        " FROM products WHERE product_id = ANY($1)",
        product_ids,
    )
    return {r["product_id"]: ProductFacts(**dict(r)) for r in rows}


async def insert(conn, r: Requisition) -> Requisition:
    row = await conn.fetchrow(
        "INSERT INTO requisitions (requisition_id, kind, sales_desk, buyer_name, buyer_reference,"
        " lines, currency_code, total_minor, card_count, state, requested_by, note,"
        " policy_version, create_time, update_time)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14)"
        f" RETURNING {_COLUMNS}",
        r.requisition_id,
        r.kind,
        r.sales_desk,
        r.buyer_name,
        r.buyer_reference,
        _lines_json(r.lines),
        r.currency_code,
        r.total_minor,
        r.card_count,
        r.state.value,
        r.requested_by,
        r.note,
        r.policy_version,
        r.create_time,
    )
    stored = _requisition(row)
    assert stored is not None
    return stored


async def get(conn, requisition_id: uuid.UUID, *, for_update: bool = False) -> Requisition | None:
    lock = " FOR UPDATE" if for_update else ""
    return _requisition(
        await conn.fetchrow(
            f"SELECT {_COLUMNS} FROM requisitions WHERE requisition_id = $1{lock}", requisition_id
        )
    )


async def lock_many(conn, requisition_ids: list[uuid.UUID]) -> None:
    """Several requisitions locked in one order (by id), before the cards they drew."""
    await conn.execute(
        "SELECT 1 FROM requisitions WHERE requisition_id = ANY($1)"
        " ORDER BY requisition_id FOR UPDATE",
        requisition_ids,
    )


async def fulfilled(conn, requisition_ids: list[uuid.UUID]) -> set[uuid.UUID]:
    rows = await conn.fetch(
        "SELECT requisition_id FROM requisitions WHERE requisition_id = ANY($1) AND state = $2",
        requisition_ids,
        RequisitionStage.FULFILLED.value,
    )
    return {r["requisition_id"] for r in rows}


async def decide(
    conn,
    requisition_id: uuid.UUID,
    state: RequisitionStage,
    now: dt.datetime,
    *,
    decided_by: str = "",
    reason: str = "",
) -> Requisition:
    """A new state; a rejection or cancellation records who and why."""
    row = await conn.fetchrow(
        "UPDATE requisitions SET state = $2, rejected_by = CASE WHEN $3 = '' THEN rejected_by"
        " ELSE $3 END, reject_reason = CASE WHEN $3 = '' THEN reject_reason ELSE $4 END,"
        f" update_time = $5 WHERE requisition_id = $1 RETURNING {_COLUMNS}",
        requisition_id,
        state.value,
        decided_by,
        reason,
        now,
    )
    stored = _requisition(row)
    assert stored is not None
    return stored


async def fulfil(
    conn, requisition_id: uuid.UUID, fulfilled_by: str, now: dt.datetime
) -> Requisition:
    row = await conn.fetchrow(
        "UPDATE requisitions SET state = $2, fulfilled_by = $3, fulfil_time = $4,"
        f" update_time = $4 WHERE requisition_id = $1 RETURNING {_COLUMNS}",
        requisition_id,
        RequisitionStage.FULFILLED.value,
        fulfilled_by,
        now,
    )
    stored = _requisition(row)
    assert stored is not None
    return stored


async def count_out(
    conn, requisition_id: uuid.UUID, now: dt.datetime, *, sold: int = 0, returned: int = 0
) -> Requisition:
    """Cards of a requisition sold or returned to stock; it is CLOSED once none of its cards is
    left drawn (sold, returned, given in an exchange or cancelled)."""
    row = await conn.fetchrow(
        "UPDATE requisitions SET sold_count = sold_count + $2,"
        " returned_count = returned_count + $3, update_time = $4,"
        " state = CASE WHEN state = $5 AND NOT EXISTS (SELECT 1 FROM cards"
        "   WHERE cards.requisition_id = $1 AND cards.state = 'requisitioned') THEN $6"
        "   ELSE state END"
        f" WHERE requisition_id = $1 RETURNING {_COLUMNS}",
        requisition_id,
        sold,
        returned,
        now,
        RequisitionStage.FULFILLED.value,
        RequisitionStage.CLOSED.value,
    )
    stored = _requisition(row)
    assert stored is not None
    return stored


async def page(
    conn,
    *,
    state: RequisitionStage | None,
    sales_desk: str,
    before: uuid.UUID | None,
    limit: int,
) -> list[Requisition]:
    """Newest first (ids are time-ordered)."""
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM requisitions"
        " WHERE ($1::text IS NULL OR state = $1) AND ($2 = '' OR sales_desk = $2)"
        " AND ($3::uuid IS NULL OR requisition_id < $3)"
        " ORDER BY requisition_id DESC LIMIT $4",
        state.value if state else None,
        sales_desk,
        before,
        limit,
    )
    return [r for r in map(_requisition, rows) if r is not None]


async def given_many(
    conn, subject: str, subject_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[Given]]:
    """The approvals given to each of several requests (one query for a page)."""
    rows = await conn.fetch(
        "SELECT subject_id, approver, role, note, approve_time FROM approvals"
        " WHERE subject = $1 AND subject_id = ANY($2) ORDER BY approve_time, approver",
        subject,
        subject_ids,
    )
    found: dict[uuid.UUID, list[Given]] = {i: [] for i in subject_ids}
    for r in rows:
        found[r["subject_id"]].append(
            Given(Approval(r["approver"], Role(r["role"])), r["note"], r["approve_time"])
        )
    return found
