"""Giftcard test helpers: cards arranged directly in a state, with their value in the journal
as loading would have put it, for tests of what comes after (checkout, after-sale, …). The
back office's own tests go through its RPCs instead."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from loyalty.giftcard.v1 import giftcard_service_pb2 as pb
from loyalty.giftcard.v1 import resources_pb2 as res
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
                    business_day=now.astimezone(ZoneInfo(deps.settings.business_zone)).date(),
                    card_id=card_id,
                    actor="test",
                )
        return Arranged(card_id, number, pin, product_id)


# --- requisitions, sales and after-sale (tests of what follows stock) -----------------------
async def stock(cards: Cards, count: int, product_id: uuid.UUID, face_minor: int = 100_00):
    """`count` READY cards of a product, loaded with its face value."""
    return [
        await cards.card(face_minor, state="ready", product_id=product_id) for _ in range(count)
    ]


async def consumed(app, card_id: uuid.UUID) -> None:
    """The card has a consumption record (a hold on it was captured)."""
    await app.pool.execute("UPDATE cards SET has_consumption = true WHERE card_id = $1", card_id)


async def fulfilled_requisition(giftcard, staff, product_id: uuid.UUID, count: int, **fields):
    """A sales-desk requisition of `count` cards of a product (its denomination), approved and
    fulfilled from READY stock by the service's pick; returns the requisition."""
    values = {"kind": res.REQUISITION_KIND_SALES_DESK, "sales_desk": "store-1/desk-1"}
    values.update(fields)
    created = await giftcard.CreateRequisition(
        pb.CreateRequisitionRequest(
            request_id=str(uuid.uuid4()),
            lines=[res.RequisitionLine(product_id=str(product_id), card_count=count)],
            **values,
        ),
        metadata=staff("req.fixture", "requester"),
    )
    requisition_id = created.requisition.requisition_id
    await giftcard.ApproveRequisition(
        pb.ApproveRequisitionRequest(request_id=str(uuid.uuid4()), requisition_id=requisition_id),
        metadata=staff("approver.fixture", "approver", "manager"),
    )
    done = await giftcard.FulfilRequisition(
        pb.FulfilRequisitionRequest(request_id=str(uuid.uuid4()), requisition_id=requisition_id),
        metadata=staff("operator.fixture", "operator"),
    )
    return done.requisition
