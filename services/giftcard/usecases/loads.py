"""Loading value onto a batch's cards (maker) and its review (checker): only then are cards ready.

Journal: a load moves each card's face value from `loads` (owner: the batch) to the card's
`card_available`, kind `load`, one transaction per card (card_id set, reference the load);
a rejected review moves it back, kind `load_reversal`.
"""

from __future__ import annotations

import datetime as dt
import uuid
from zoneinfo import ZoneInfo

from loyalty.giftcard.v1 import events_pb2
from services.kit import errors, ids
from services.kit.postings import Entries
from services.kit.refusals import Refusal
from services.kit.timestamps import to_proto

from ..deps import GiftcardDeps
from ..domain import accounts, stock
from ..domain.approvals import Role, review_refusal
from ..domain.states import CardOperation, CardState, card_refusal
from ..domain.stock import LoadState
from ..store import batches as batch_store
from ..store import cards as card_store
from ..store import journal
from ..store import loads as store
from ..store.cards import Card
from ..store.loads import EntryRow, LoadRow


class Loads:
    def __init__(self, deps: GiftcardDeps) -> None:
        self.deps = deps

    def _business_day(self, now: dt.datetime) -> dt.date:
        return now.astimezone(ZoneInfo(self.deps.settings.business_zone)).date()

    async def load(
        self,
        conn,
        batch_id: uuid.UUID,
        entries: list[tuple[str, int]],
        *,
        loader: str,
        note: str,
    ) -> LoadRow:
        """A load of (card number, amount) entries, all or none: each card of the batch,
        ISSUED with its secret delivered, listed once, at the batch's face value. The cards
        become LOADED, the load PENDING_REVIEW."""
        batch = await batch_store.get(conn, batch_id, for_update=True)
        if batch is None:
            raise errors.not_found("BATCH", str(batch_id))
        _check(stock.loading_refusal(batch.state))
        found = await store.card_ids_by_number(conn, [number for number, _ in entries])
        locked = {c.card_id: c for c in await card_store.lock_many(conn, list(found.values()))}
        violations: list[tuple[str, str]] = []
        first_reason = ""
        seen: set[uuid.UUID] = set()
        cards: list[tuple[Card, int]] = []
        for i, (number, amount) in enumerate(entries):
            card = locked.get(found.get(number, uuid.UUID(int=0)))
            refusal = _entry_refusal(card, seen, batch_id, amount, batch.face_value_minor)
            if refusal is None and card is not None:
                seen.add(card.card_id)
                cards.append((card, amount))
                continue
            assert refusal is not None
            if card is not None:
                seen.add(card.card_id)
            field = "amount_minor" if refusal.reason == "LOAD_AMOUNT_MISMATCH" else "card_number"
            violations.append((f"entries[{i}].{field}", refusal.message))
            first_reason = first_reason or refusal.reason
        if violations:
            raise errors.invalid(violations, first_reason)

        now = self.deps.now()
        load = await store.insert(
            conn,
            LoadRow(
                load_id=ids.new_id(),
                batch_id=batch_id,
                state=LoadState.PENDING_REVIEW,
                card_count=len(cards),
                currency_code=batch.currency_code,
                total_minor=sum(amount for _, amount in cards),
                loaded_by=loader,
                load_time=now,
                reviewed_by="",
                review_time=None,
                reject_reason="",
                note=note,
            ),
            [(card.card_id, amount) for card, amount in cards],
        )
        day = self._business_day(now)
        for card, amount in cards:
            postings = Entries()
            postings.move(
                (accounts.LOADS, batch_id),
                (accounts.CARD_AVAILABLE, card.card_id),
                amount,
                accounts.LOAD,
            )
            await journal.post(
                conn,
                accounts.LOAD,
                postings.postings,
                business_day=day,
                card_id=card.card_id,
                reference=str(load.load_id),
                actor=loader,
            )
        await store.move_cards(conn, [c.card_id for c, _ in cards], CardState.LOADED, now)
        return load

    async def approve(
        self,
        conn,
        load_id: uuid.UUID,
        *,
        reviewer: str,
        held: frozenset[Role],
        card_count: int,
        total_minor: int,
    ) -> LoadRow:
        """The review (复核) by someone other than the loader, who counted the cards and added
        up the amounts itself: the cards READY, BatchLoaded published."""
        load = await self._locked(conn, load_id)
        _check(stock.review_state_refusal(load.state))
        _check(review_refusal(load.loaded_by, reviewer, held))
        _check(stock.count_refusal(load.card_count, load.total_minor, card_count, total_minor))
        cards = await self._cards(conn, load_id, CardOperation.REVIEW)
        now = self.deps.now()
        await store.move_cards(conn, [c.card_id for c in cards], CardState.READY, now)
        load = await store.reviewed(conn, load_id, LoadState.APPROVED, reviewer, now)
        batch = await batch_store.get(conn, load.batch_id)
        assert batch is not None
        await self.deps.outbox.add(
            conn,
            load.batch_id,
            events_pb2.BatchLoaded(
                batch_id=str(load.batch_id),
                load_id=str(load_id),
                product_id=str(batch.product_id),
                card_count=load.card_count,
                currency_code=load.currency_code,
                total_minor=load.total_minor,
                loaded_time=to_proto(now),
            ),
        )
        return load

    async def reject(
        self, conn, load_id: uuid.UUID, *, reviewer: str, held: frozenset[Role], reason: str
    ) -> LoadRow:
        """The review refuses the load: the value reversed, the cards ISSUED again (they may
        be loaded again)."""
        load = await self._locked(conn, load_id)
        _check(stock.review_state_refusal(load.state))
        _check(review_refusal(load.loaded_by, reviewer, held))
        entries = {e.card_id: e.amount_minor for e in await store.entries(conn, load_id)}
        cards = await self._cards(conn, load_id, CardOperation.REVIEW)
        now = self.deps.now()
        day = self._business_day(now)
        for card in cards:
            postings = Entries()
            postings.move(
                (accounts.CARD_AVAILABLE, card.card_id),
                (accounts.LOADS, load.batch_id),
                entries[card.card_id],
                accounts.LOAD_REVERSAL,
            )
            await journal.post(
                conn,
                accounts.LOAD_REVERSAL,
                postings.postings,
                business_day=day,
                card_id=card.card_id,
                reference=str(load_id),
                reason=reason,
                actor=reviewer,
            )
        await store.move_cards(
            conn, [c.card_id for c in cards], CardState.ISSUED, now, f"load rejected: {reason}"
        )
        return await store.reviewed(conn, load_id, LoadState.REJECTED, reviewer, now, reason)

    async def _cards(self, conn, load_id: uuid.UUID, op: CardOperation) -> list[Card]:
        """The load's cards, locked, each still LOADED."""
        card_ids = [e.card_id for e in await store.entries(conn, load_id)]
        cards = await card_store.lock_many(conn, card_ids)
        for card in cards:
            _check(card_refusal(card.state, op))
        return cards

    async def _locked(self, conn, load_id: uuid.UUID) -> LoadRow:
        load = await store.get(conn, load_id, for_update=True)
        if load is None:
            raise errors.not_found("LOAD", str(load_id))
        return load

    # --- reading ---------------------------------------------------------------------------
    async def get(self, load_id: uuid.UUID) -> LoadRow:
        async with self.deps.pool.acquire() as conn:
            load = await store.get(conn, load_id)
        if load is None:
            raise errors.not_found("LOAD", str(load_id))
        return load

    async def listed(
        self,
        *,
        before: uuid.UUID | None,
        limit: int,
        batch_id: uuid.UUID | None,
        state: LoadState | None,
    ) -> list[LoadRow]:
        async with self.deps.pool.acquire() as conn:
            return await store.listed(
                conn, before=before, limit=limit, batch_id=batch_id, state=state
            )

    async def entries(self, load_id: uuid.UUID, *, after: str | None, limit: int) -> list[EntryRow]:
        async with self.deps.pool.acquire() as conn:
            if await store.get(conn, load_id) is None:
                raise errors.not_found("LOAD", str(load_id))
            return await store.entries(conn, load_id, after=after, limit=limit)


def _entry_refusal(
    card: Card | None, seen: set[uuid.UUID], batch_id: uuid.UUID, amount: int, face: int
) -> Refusal | None:
    if card is None:
        return stock.not_in_batch()
    if card.card_id in seen:
        return stock.listed_twice()
    return stock.entry_refusal(
        card.batch_id, card.state, card.secret_delivered, batch_id, amount, face
    )


def _check(refusal: Refusal | None) -> None:
    if refusal is not None:
        raise errors.refused(refusal)
