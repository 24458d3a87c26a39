"""After-sale requests: refund (退卡) and exchange (调换) of a card."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

import asyncpg

from services.kit import db

from ..domain.selling import AfterSaleKind, AfterSaleStage

_COLUMNS = """after_sale_id, kind, card_id, currency_code, amount_minor, exchange_card_ids, state,
    requested_by, reason, policy_version, rejected_by, reject_reason, create_time,
    complete_time"""


class OpenRequest(db.Duplicate):
    """The card has a pending request already (one open request per card)."""


@dataclass(frozen=True)
class AfterSale:
    after_sale_id: uuid.UUID
    kind: AfterSaleKind
    card_id: uuid.UUID
    currency_code: str
    amount_minor: int
    exchange_card_ids: tuple[uuid.UUID, ...]
    state: AfterSaleStage
    requested_by: str
    reason: str
    policy_version: int
    rejected_by: str
    reject_reason: str
    create_time: dt.datetime
    complete_time: dt.datetime | None


def _after_sale(row: asyncpg.Record | None) -> AfterSale | None:
    if row is None:
        return None
    values = dict(row)
    values["kind"] = AfterSaleKind(values["kind"])
    values["state"] = AfterSaleStage(values["state"])
    values["exchange_card_ids"] = tuple(values["exchange_card_ids"])
    return AfterSale(**values)


async def insert(conn, a: AfterSale) -> AfterSale:
    with db.duplicates({"after_sales_open": OpenRequest}):
        row = await conn.fetchrow(
            "INSERT INTO after_sales (after_sale_id, kind, card_id, currency_code, amount_minor,"
            " exchange_card_ids, state, requested_by, reason, policy_version, create_time)"
            f" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING {_COLUMNS}",
            a.after_sale_id,
            a.kind.value,
            a.card_id,
            a.currency_code,
            a.amount_minor,
            list(a.exchange_card_ids),
            a.state.value,
            a.requested_by,
            a.reason,
            a.policy_version,
            a.create_time,
        )
    stored = _after_sale(row)
    assert stored is not None
    return stored


async def get(conn, after_sale_id: uuid.UUID, *, for_update: bool = False) -> AfterSale | None:
    lock = " FOR UPDATE" if for_update else ""
    return _after_sale(
        await conn.fetchrow(
            f"SELECT {_COLUMNS} FROM after_sales WHERE after_sale_id = $1{lock}", after_sale_id
        )
    )


async def close(
    conn,
    after_sale_id: uuid.UUID,
    state: AfterSaleStage,
    now: dt.datetime,
    *,
    rejected_by: str = "",
    reason: str = "",
) -> AfterSale:
    """Completed (carried out) or rejected."""
    row = await conn.fetchrow(
        "UPDATE after_sales SET state = $2, rejected_by = $3, reject_reason = $4,"
        " complete_time = CASE WHEN $2 = 'completed' THEN $5 ELSE complete_time END"
        f" WHERE after_sale_id = $1 RETURNING {_COLUMNS}",
        after_sale_id,
        state.value,
        rejected_by,
        reason,
        now,
    )
    stored = _after_sale(row)
    assert stored is not None
    return stored


async def page(
    conn,
    *,
    state: AfterSaleStage | None,
    kind: AfterSaleKind | None,
    card_id: uuid.UUID | None,
    before: uuid.UUID | None,
    limit: int,
) -> list[AfterSale]:
    """Newest first (ids are time-ordered)."""
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM after_sales"
        " WHERE ($1::text IS NULL OR state = $1) AND ($2::text IS NULL OR kind = $2)"
        " AND ($3::uuid IS NULL OR card_id = $3)"
        " AND ($4::uuid IS NULL OR after_sale_id < $4)"
        " ORDER BY after_sale_id DESC LIMIT $5",
        state.value if state else None,
        kind.value if kind else None,
        card_id,
        before,
        limit,
    )
    return [a for a in map(_after_sale, rows) if a is not None]
