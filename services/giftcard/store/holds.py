"""Checkout holds on cards and stored value."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from ..domain.holds import HoldState

_COLUMNS = """hold_id, order_id, position, member_id, source_kind, card_id, currency_code,
    amount_minor, bonus_minor, state, returned_minor, returned_bonus_minor, expire_time,
    placed_by, create_time, capture_time, release_time, release_reason"""


@dataclass(frozen=True)
class Hold:
    hold_id: uuid.UUID
    order_id: str
    position: int
    member_id: uuid.UUID | None
    source_kind: str  # card_secret | bound_card | stored_value
    card_id: uuid.UUID | None
    currency_code: str
    amount_minor: int
    bonus_minor: int
    state: HoldState
    returned_minor: int
    returned_bonus_minor: int
    expire_time: dt.datetime
    placed_by: str
    create_time: dt.datetime
    capture_time: dt.datetime | None
    release_time: dt.datetime | None
    release_reason: str

    @property
    def on_stored_value(self) -> bool:
        return self.source_kind == "stored_value"


def _hold(row) -> Hold | None:
    if row is None:
        return None
    values = dict(row)
    values["state"] = HoldState(values["state"])
    return Hold(**values)


async def insert(conn, hold: Hold) -> None:
    await conn.execute(
        "INSERT INTO holds (hold_id, order_id, position, member_id, source_kind, card_id,"
        " currency_code, amount_minor, bonus_minor, state, expire_time, placed_by, create_time)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        hold.hold_id,
        hold.order_id,
        hold.position,
        hold.member_id,
        hold.source_kind,
        hold.card_id,
        hold.currency_code,
        hold.amount_minor,
        hold.bonus_minor,
        hold.state.value,
        hold.expire_time,
        hold.placed_by,
        hold.create_time,
    )


async def get(conn, hold_id: uuid.UUID) -> Hold | None:
    return _hold(await conn.fetchrow(f"SELECT {_COLUMNS} FROM holds WHERE hold_id = $1", hold_id))


async def lock(conn, hold_id: uuid.UUID) -> Hold | None:
    return _hold(
        await conn.fetchrow(f"SELECT {_COLUMNS} FROM holds WHERE hold_id = $1 FOR UPDATE", hold_id)
    )


async def of_order(conn, order_id: str, *, for_update: bool = False) -> list[Hold]:
    lock_clause = " FOR UPDATE" if for_update else ""
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM holds WHERE order_id = $1 ORDER BY position{lock_clause}",
        order_id,
    )
    return [h for h in map(_hold, rows) if h is not None]


async def next_position(conn, order_id: str) -> int:
    return await conn.fetchval(
        "SELECT coalesce(max(position) + 1, 0) FROM holds WHERE order_id = $1", order_id
    )


async def held_on_card(conn, card_id: uuid.UUID) -> list[Hold]:
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM holds WHERE card_id = $1 AND state = 'held' ORDER BY create_time",
        card_id,
    )
    return [h for h in map(_hold, rows) if h is not None]


async def settle(
    conn,
    hold_id: uuid.UUID,
    state: HoldState,
    now: dt.datetime,
    reason: str = "",
) -> None:
    """A held hold captured, released or expired."""
    captured = state is HoldState.CAPTURED
    await conn.execute(
        "UPDATE holds SET state = $2, capture_time = CASE WHEN $3 THEN $4::timestamptz END,"
        " release_time = CASE WHEN $3 THEN NULL ELSE $4::timestamptz END, release_reason = $5"
        " WHERE hold_id = $1",
        hold_id,
        state.value,
        captured,
        now,
        reason,
    )


async def set_lapsed_capture(conn, hold_id: uuid.UUID, bonus: int, now: dt.datetime) -> None:
    """A lapsed hold captured by its order's payment (the value taken again)."""
    await conn.execute(
        "UPDATE holds SET state = 'captured', capture_time = $3, bonus_minor = $2"
        " WHERE hold_id = $1",
        hold_id,
        bonus,
        now,
    )


async def add_returned(conn, hold_id: uuid.UUID, amount: int, bonus: int) -> None:
    await conn.execute(
        "UPDATE holds SET returned_minor = returned_minor + $2,"
        " returned_bonus_minor = returned_bonus_minor + $3 WHERE hold_id = $1",
        hold_id,
        amount,
        bonus,
    )


async def due(conn, now: dt.datetime, limit: int) -> list[uuid.UUID]:
    """Held holds past their expiry, oldest first."""
    rows = await conn.fetch(
        "SELECT hold_id FROM holds WHERE state = 'held' AND expire_time <= $1"
        " ORDER BY expire_time LIMIT $2",
        now,
        limit,
    )
    return [r["hold_id"] for r in rows]
