"""Cards past their validity expire; their balance is breakage.

The job finds ACTIVE, FROZEN and LOST cards whose expire_time has passed and that hold nothing
for a checkout (a held hold settles first, within the hold's time: domain.after_sale.expire),
and expires each in a transaction of its own under the card's lock: the balance moves to
`breakage` (journal kind `expire`), the card becomes EXPIRED, giftcard.card.expired is
published. An expired card no longer matches, so a second run, or another replica's, changes
nothing.
"""

from __future__ import annotations

import datetime as dt
import uuid
from zoneinfo import ZoneInfo

import asyncpg

from loyalty.giftcard.v1 import events_pb2 as ev
from services.kit import logging
from services.kit.postings import Entries
from services.kit.timestamps import to_proto

from ..deps import GiftcardDeps
from ..domain import accounts as acc
from ..domain import after_sale
from ..domain import cards as numbers
from ..domain.refusals import Refusal
from ..domain.states import CardState
from ..store import cards as card_store
from ..store import expiry as store
from ..store import journal

log = logging.get("giftcard.expiry")
SYSTEM = "system"
REASON = "validity ended"


class Expiry:
    def __init__(self, deps: GiftcardDeps) -> None:
        self.deps = deps

    async def expire(
        self, conn: asyncpg.Connection, card_id: uuid.UUID, now: dt.datetime
    ) -> int | None:
        """Expire one card if it is due (the caller's transaction); the breakage, or None when
        the card is not due (any more)."""
        card = await card_store.lock(conn, card_id)
        if card is None:
            return None
        facts = after_sale.CardFacts(
            card.state, card.balance_minor, card.held_minor, card.has_consumption, card.expire_time
        )
        breakage = after_sale.expire(facts, now)
        if isinstance(breakage, Refusal):
            return None
        if breakage:
            entries = Entries()
            entries.move(
                (acc.CARD_AVAILABLE, card.card_id), (acc.BREAKAGE, ""), breakage, acc.EXPIRE
            )
            await journal.post(
                conn,
                acc.EXPIRE,
                entries.postings,
                business_day=now.astimezone(ZoneInfo(self.deps.settings.business_zone)).date(),
                card_id=card.card_id,
                reason=REASON,
                actor=SYSTEM,
            )
        await card_store.set_state(conn, card.card_id, CardState.EXPIRED, now, REASON)
        await self.deps.outbox.add(
            conn,
            str(card.card_id),
            ev.CardExpired(
                card_id=str(card.card_id),
                masked_card_number=numbers.mask(card.card_number),
                member_id=str(card.member_id or ""),
                currency_code=card.currency_code,
                expired_minor=breakage,
                expired_time=to_proto(card.expire_time),
            ),
        )
        return breakage

    async def expire_due(self, pool: asyncpg.Pool, now: dt.datetime | None = None) -> int:
        """The job: every card due at `now`, one transaction each, in bounded batches; returns
        how many expired."""
        now = now or self.deps.now()
        batch = self.deps.settings.job_batch
        after: tuple[dt.datetime, uuid.UUID] | None = None
        expired = breakage = 0
        while True:
            async with pool.acquire() as conn:
                due = await store.due(conn, now, batch, after)
            for expire_time, card_id in due:
                after = (expire_time, card_id)
                async with pool.acquire() as conn, conn.transaction():
                    amount = await self.expire(conn, card_id, now)
                if amount is not None:
                    expired += 1
                    breakage += amount
            if len(due) < batch:
                break
        if expired:
            log.info("cards_expired", count=expired, breakage_minor=breakage)
        return expired
