"""New cards of a batch, written in bulk: one COPY for the whole batch (100,000 cards at
most), never an INSERT per card."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from ..domain.states import CardState

_COLUMNS = (
    "card_id",
    "card_number",
    "batch_id",
    "product_id",
    "sequence",
    "state",
    "currency_code",
    "face_value_minor",
    "pin_key_id",
    "pin_hash",
    "create_time",
    "update_time",
)


@dataclass(frozen=True)
class NewCard:
    card_id: uuid.UUID
    card_number: str
    sequence: int
    pin_key_id: str
    pin_hash: bytes


async def taken(conn, numbers: list[str]) -> set[str]:
    """Which of `numbers` some card has already (the unique key stays the last word)."""
    records = await conn.fetch(
        "SELECT card_number FROM cards WHERE card_number = ANY($1::text[])", numbers
    )
    return {r["card_number"] for r in records}


async def next_sequence(conn, batch_id: uuid.UUID) -> int:
    """The export position after the batch's last card (1 for a batch without cards)."""
    return await conn.fetchval(
        "SELECT coalesce(max(sequence), 0) + 1 FROM cards WHERE batch_id = $1", batch_id
    )


async def insert_cards(
    conn,
    cards: list[NewCard],
    *,
    batch_id: uuid.UUID,
    product_id: uuid.UUID,
    currency_code: str,
    face_value_minor: int,
    now: dt.datetime,
) -> None:
    """ISSUED cards of a batch, without value, their secrets not delivered."""
    issued = CardState.ISSUED.value
    await conn.copy_records_to_table(
        "cards",
        columns=_COLUMNS,
        records=(
            (
                c.card_id,
                c.card_number,
                batch_id,
                product_id,
                c.sequence,
                issued,
                currency_code,
                face_value_minor,
                c.pin_key_id,
                c.pin_hash,
                now,
                now,
            )
            for c in cards
        ),
    )
