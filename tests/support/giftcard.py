"""Giftcard test helpers: cards arranged directly in a state, with their value in the journal
as loading would have put it, for tests of what comes after (checkout, after-sale, …). The
back office's own tests go through its RPCs instead."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from services.giftcard.domain import accounts, pins
from services.giftcard.domain import cards as numbers
from services.giftcard.store import journal
from services.kit.postings import Entries


@dataclass(frozen=True)
class Arranged:
    card_id: uuid.UUID
    card_number: str
    pin: str
    product_id: uuid.UUID


class Cards:
    def __init__(self, app) -> None:
        self.app = app

    async def product(self, face_value_minor: int = 100_00, channels=("online",)) -> uuid.UUID:
        product_id = uuid.uuid4()
        await self.app.pool.execute(
            "INSERT INTO products (product_id, display_name, kind, currency_code,"
            " face_value_minor, validity_months, channels, created_by)"
            " VALUES ($1, $2, 'denomination', 'CNY', $3, 36, $4, 'test')",
            product_id,
            f"Card {face_value_minor // 100} CNY",
            face_value_minor,
            list(channels),
        )
        return product_id

    async def card(
        self,
        balance_minor: int = 100_00,
        *,
        state: str = "active",
        product_id: uuid.UUID | None = None,
        member_id: uuid.UUID | None = None,
        expire_time: dt.datetime | None = None,
    ) -> Arranged:
        """A card in `state` with `balance_minor` loaded (0: nothing loaded)."""
        product_id = product_id or await self.product(balance_minor or 100_00)
        deps = self.app.deps
        number = numbers.new_number(deps.settings.card_number_prefix, 19)
        pin = pins.new_pin()
        hashed = pins.hash_pin(pin, number, deps.keyring.current)
        card_id = uuid.uuid4()
        now = deps.now()
        async with self.app.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO cards (card_id, card_number, product_id, state, currency_code,"
                " face_value_minor, pin_key_id, pin_hash, secret_delivered, expire_time,"
                " member_id, bind_time, activate_time)"
                " VALUES ($1, $2, $3, $4, 'CNY', $5, $6, $7, true, $8, $9, $10, $11)",
                card_id,
                number,
                product_id,
                state,
                balance_minor,
                hashed.key_id,
                hashed.digest,
                expire_time or now + dt.timedelta(days=3 * 365),
                member_id,
                now if member_id else None,
                now if state == "active" else None,
            )
            if balance_minor:
                entries = Entries()
                entries.move(
                    (accounts.LOADS, "arranged"),
                    (accounts.CARD_AVAILABLE, card_id),
                    balance_minor,
                    accounts.LOAD,
                )
                await journal.post(
                    conn,
                    accounts.LOAD,
                    entries.postings,
                    business_day=now.date(),
                    card_id=card_id,
                    actor="test",
                )
        return Arranged(card_id, number, pin, product_id)
