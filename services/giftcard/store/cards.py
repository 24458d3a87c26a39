"""Cards: read, locked for a change, their state moved. Balances change only through
`usecases.books` (with the journal), under the card's row lock."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

import asyncpg

from ..domain.pins import PinHash
from ..domain.states import CardState

COLUMNS = """card_id, card_number, batch_id, product_id, sequence, state, currency_code,
    face_value_minor, balance_minor, held_minor, has_consumption, pin_key_id, pin_hash,
    secret_delivered, expire_time, member_id, bind_time, requisition_id, sale_id, after_sale_id,
    replaces_card_id, replaced_by_card_id, state_reason, create_time, activate_time, update_time"""


@dataclass(frozen=True)
class Card:
    card_id: uuid.UUID
    card_number: str
    batch_id: uuid.UUID | None
    product_id: uuid.UUID
    sequence: int
    state: CardState
    currency_code: str
    face_value_minor: int
    balance_minor: int
    held_minor: int
    has_consumption: bool
    pin_key_id: str
    pin_hash: bytes
    secret_delivered: bool
    expire_time: dt.datetime | None
    member_id: uuid.UUID | None
    bind_time: dt.datetime | None
    requisition_id: uuid.UUID | None
    sale_id: uuid.UUID | None
    after_sale_id: uuid.UUID | None
    replaces_card_id: uuid.UUID | None
    replaced_by_card_id: uuid.UUID | None
    state_reason: str
    create_time: dt.datetime
    activate_time: dt.datetime | None
    update_time: dt.datetime

    @property
    def pin(self) -> PinHash:
        return PinHash(self.pin_key_id, bytes(self.pin_hash))


def card_of(row: asyncpg.Record | None) -> Card | None:
    if row is None:
        return None
    values = dict(row)
    values["state"] = CardState(values["state"])
    return Card(**values)


async def get(conn, card_id: uuid.UUID) -> Card | None:
    return card_of(await conn.fetchrow(f"SELECT {COLUMNS} FROM cards WHERE card_id = $1", card_id))


async def lock(conn, card_id: uuid.UUID) -> Card | None:
    """The card, its row locked until the transaction ends."""
    return card_of(
        await conn.fetchrow(f"SELECT {COLUMNS} FROM cards WHERE card_id = $1 FOR UPDATE", card_id)
    )


async def by_number(conn, card_number: str, *, for_update: bool = False) -> Card | None:
    lock_clause = " FOR UPDATE" if for_update else ""
    return card_of(
        await conn.fetchrow(
            f"SELECT {COLUMNS} FROM cards WHERE card_number = $1{lock_clause}", card_number
        )
    )


async def lock_many(conn, card_ids: list[uuid.UUID]) -> list[Card]:
    """Several cards locked in one order (by id), so two transactions never deadlock."""
    rows = await conn.fetch(
        f"SELECT {COLUMNS} FROM cards WHERE card_id = ANY($1) ORDER BY card_id FOR UPDATE",
        card_ids,
    )
    return [c for c in map(card_of, rows) if c is not None]


async def set_state(
    conn, card_id: uuid.UUID, state: CardState, now: dt.datetime, reason: str = ""
) -> None:
    await conn.execute(
        "UPDATE cards SET state = $2, state_reason = $3, update_time = $4 WHERE card_id = $1",
        card_id,
        state.value,
        reason,
        now,
    )


async def rehash_pin(conn, card_id: uuid.UUID, pin: PinHash) -> None:
    """A hash made with a retired key, made again with the current one after a good PIN."""
    await conn.execute(
        "UPDATE cards SET pin_key_id = $2, pin_hash = $3 WHERE card_id = $1",
        card_id,
        pin.key_id,
        pin.digest,
    )


async def mark_consumed(conn, card_id: uuid.UUID) -> None:
    """The card paid for something: it can no longer be refunded or exchanged."""
    await conn.execute("UPDATE cards SET has_consumption = true WHERE card_id = $1", card_id)


async def bind(conn, card_id: uuid.UUID, member_id: uuid.UUID | None, now: dt.datetime) -> None:
    await conn.execute(
        "UPDATE cards SET member_id = $2, bind_time = CASE WHEN $2::uuid IS NULL THEN NULL"
        " ELSE $3::timestamptz END, update_time = $3 WHERE card_id = $1",
        card_id,
        member_id,
        now,
    )


async def product_channels(conn, card_id: uuid.UUID) -> list[str]:
    return list(
        await conn.fetchval(
            "SELECT p.channels FROM cards c JOIN products p USING (product_id)"
            " WHERE c.card_id = $1",
            card_id,
        )
        or []
    )
