"""Cards listed and filtered for the back office, READY cards picked for a requisition, and the
writes that move cards between stock and sold (drawn, returned, activated, set aside for an
exchange, replaced, extended). Balances change only through `store.journal.post`."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from ..domain.states import CardState
from .cards import COLUMNS, Card, card_of

_C_COLUMNS = ", ".join(f"c.{c.strip()}" for c in COLUMNS.split(","))


@dataclass(frozen=True)
class CardFilter:
    batch_id: uuid.UUID | None = None
    product_id: uuid.UUID | None = None
    state: CardState | None = None
    requisition_id: uuid.UUID | None = None
    sale_id: uuid.UUID | None = None
    member_id: uuid.UUID | None = None


async def page(conn, where: CardFilter, *, after: str | None, limit: int) -> list[Card]:
    """By card number."""
    rows = await conn.fetch(
        f"SELECT {COLUMNS} FROM cards"
        " WHERE ($1::uuid IS NULL OR batch_id = $1) AND ($2::uuid IS NULL OR product_id = $2)"
        " AND ($3::text IS NULL OR state = $3) AND ($4::uuid IS NULL OR requisition_id = $4)"
        " AND ($5::uuid IS NULL OR sale_id = $5) AND ($6::uuid IS NULL OR member_id = $6)"
        " AND ($7::text IS NULL OR card_number > $7)"
        " ORDER BY card_number LIMIT $8",
        where.batch_id,
        where.product_id,
        where.state.value if where.state else None,
        where.requisition_id,
        where.sale_id,
        where.member_id,
        after,
        limit,
    )
    return [c for c in map(card_of, rows) if c is not None]


async def ids_by_number(conn, numbers: list[str]) -> dict[str, uuid.UUID]:
    rows = await conn.fetch(
        "SELECT card_number, card_id FROM cards WHERE card_number = ANY($1)", numbers
    )
    return {r["card_number"]: r["card_id"] for r in rows}


async def pick_ready(conn, product_id: uuid.UUID, face_value_minor: int, count: int) -> list[Card]:
    """Up to `count` READY cards of a product and face value, not set aside, oldest batches
    first, locked; cards another transaction holds are skipped (it may be taking them)."""
    rows = await conn.fetch(
        f"SELECT {_C_COLUMNS} FROM cards c LEFT JOIN batches b USING (batch_id)"
        " WHERE c.state = 'ready' AND c.product_id = $1 AND c.face_value_minor = $2"
        " AND c.after_sale_id IS NULL"
        " ORDER BY b.create_time NULLS LAST, c.batch_id, c.sequence, c.card_number"
        " LIMIT $3 FOR UPDATE OF c SKIP LOCKED",
        product_id,
        face_value_minor,
        count,
    )
    return [c for c in map(card_of, rows) if c is not None]


async def drawn_ids(conn, requisition_id: uuid.UUID) -> list[uuid.UUID]:
    """The cards a requisition has drawn and not sold, returned or set aside."""
    rows = await conn.fetch(
        "SELECT card_id FROM cards WHERE requisition_id = $1 AND state = 'requisitioned'"
        " AND after_sale_id IS NULL ORDER BY card_id",
        requisition_id,
    )
    return [r["card_id"] for r in rows]


async def draw(
    conn, card_ids: list[uuid.UUID], requisition_id: uuid.UUID, now: dt.datetime
) -> None:
    await conn.execute(
        "UPDATE cards SET state = 'requisitioned', requisition_id = $2, state_reason = '',"
        " update_time = $3 WHERE card_id = ANY($1)",
        card_ids,
        requisition_id,
        now,
    )


async def to_stock(conn, card_ids: list[uuid.UUID], reason: str, now: dt.datetime) -> None:
    """Returned unsold: READY again, no longer the requisition's."""
    await conn.execute(
        "UPDATE cards SET state = 'ready', requisition_id = NULL, state_reason = $2,"
        " update_time = $3 WHERE card_id = ANY($1)",
        card_ids,
        reason,
        now,
    )


async def activate(
    conn,
    card_id: uuid.UUID,
    *,
    expire_time: dt.datetime,
    now: dt.datetime,
    sale_id: uuid.UUID | None = None,
    reason: str = "",
) -> None:
    """Sold or given in an exchange: ACTIVE, valid until `expire_time`."""
    await conn.execute(
        "UPDATE cards SET state = 'active', sale_id = $2, expire_time = $3, after_sale_id = NULL,"
        " activate_time = coalesce(activate_time, $4), state_reason = $5, update_time = $4"
        " WHERE card_id = $1",
        card_id,
        sale_id,
        expire_time,
        now,
        reason,
    )


async def set_after_sale(
    conn, card_ids: list[uuid.UUID], after_sale_id: uuid.UUID | None, now: dt.datetime
) -> None:
    """A pending after-sale request on the cards (None: no longer)."""
    await conn.execute(
        "UPDATE cards SET after_sale_id = $2, update_time = $3 WHERE card_id = ANY($1)",
        card_ids,
        after_sale_id,
        now,
    )


async def close(
    conn,
    card_id: uuid.UUID,
    state: CardState,
    reason: str,
    now: dt.datetime,
    *,
    replaced_by: uuid.UUID | None = None,
) -> None:
    """A final state (refunded, exchanged, replaced, cancelled); no request left pending."""
    await conn.execute(
        "UPDATE cards SET state = $2, state_reason = $3, after_sale_id = NULL,"
        " replaced_by_card_id = coalesce($4, replaced_by_card_id), update_time = $5"
        " WHERE card_id = $1",
        card_id,
        state.value,
        reason,
        replaced_by,
        now,
    )


async def receive_replacement(
    conn, new: uuid.UUID, old: Card, amount_minor: int, reason: str, now: dt.datetime
) -> None:
    """A blank becomes the replacement of `old`: ACTIVE, with its product, expiry, binding and
    consumption record (a used card's value stays used: no refund through its replacement);
    the balance moves by the journal."""
    await conn.execute(
        "UPDATE cards SET state = 'active', replaces_card_id = $2, product_id = $3,"
        " face_value_minor = $4, expire_time = $5, member_id = $6, bind_time = $7,"
        " activate_time = $8, state_reason = $9, update_time = $8, has_consumption = $10"
        " WHERE card_id = $1",
        new,
        old.card_id,
        old.product_id,
        amount_minor,
        old.expire_time,
        old.member_id,
        old.bind_time,
        now,
        reason,
        old.has_consumption,
    )


async def set_expiry(
    conn, card_id: uuid.UUID, expire_time: dt.datetime, reason: str, now: dt.datetime
) -> None:
    await conn.execute(
        "UPDATE cards SET expire_time = $2, state_reason = $3, update_time = $4 WHERE card_id = $1",
        card_id,
        expire_time,
        reason,
        now,
    )


async def validity_months(conn, product_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    rows = await conn.fetch(
        "SELECT product_id, validity_months FROM products WHERE product_id = ANY($1)",
        product_ids,
    )
    return {r["product_id"]: r["validity_months"] for r in rows}
