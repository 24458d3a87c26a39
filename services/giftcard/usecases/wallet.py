"""The holder's side of cards: binding a card to a member (after its PIN was proved), loss
reports (挂失) and their cancellation. A card reported lost spends nothing; its held holds go
back; its balance can then move to a replacement card (CardOps.replace)."""

from __future__ import annotations

import uuid

from loyalty.giftcard.v1 import events_pb2 as ev
from loyalty.giftcard.v1 import resources_pb2 as res
from services.kit import errors
from services.kit.timestamps import to_proto

from ..deps import GiftcardDeps
from ..domain import binding
from ..domain import cards as numbers
from ..domain.refusals import Refusal
from ..domain.states import CardOperation, card_transition
from ..store import cards as card_store
from ..store import members as member_store
from ..store.cards import Card
from .holds import Holds


class Wallet:
    def __init__(self, deps: GiftcardDeps, holds: Holds) -> None:
        self.deps = deps
        self.holds = holds

    async def bind(self, conn, card_id: uuid.UUID, member_id: uuid.UUID) -> Card:
        status = await member_store.status(conn, member_id)
        if status != "active":
            raise errors.failed_precondition(f"MEMBER_{status.upper()}", f"the member is {status}")
        card = await card_store.lock(conn, card_id)
        assert card is not None  # opened by its secret just before
        refusal = binding.bind_refusal(card.state, card.member_id, member_id)
        if refusal is not None:
            if refusal.reason == "CARD_BOUND_TO_ANOTHER_MEMBER":
                raise errors.already_exists(refusal.reason, refusal.message)
            raise errors.refused(refusal)
        if card.member_id != member_id:
            await card_store.bind(conn, card_id, member_id, self.deps.now())
        return await self._card(conn, card_id)

    async def unbind(self, conn, card_id: uuid.UUID, may_see) -> Card:
        card = await card_store.lock(conn, card_id)
        if card is None or card.member_id is None or not may_see(card.member_id):
            raise errors.not_found("CARD_NOT_BOUND", str(card_id))
        await card_store.bind(conn, card_id, None, self.deps.now())
        return await self._card(conn, card_id)

    async def report_lost(self, conn, card: Card, by_member: bool, actor: str) -> Card:
        state = card_transition(card.state, CardOperation.REPORT_LOST)
        if isinstance(state, Refusal):
            raise errors.refused(state)
        now = self.deps.now()
        await self.holds.release_card_holds(conn, card.card_id, actor)
        await card_store.set_state(conn, card.card_id, state, now, "reported lost")
        after = await self._card(conn, card.card_id)
        await self.deps.outbox.add(
            conn,
            card.card_id,
            ev.CardReportedLost(
                card_id=str(card.card_id),
                masked_card_number=numbers.mask(card.card_number),
                member_id=str(card.member_id or ""),
                reported_by=_reporter(by_member),
                currency_code=card.currency_code,
                balance_minor=after.balance_minor,
                reported_time=to_proto(now),
            ),
        )
        return after

    async def cancel_loss_report(self, conn, card: Card, by_member: bool) -> Card:
        state = card_transition(card.state, CardOperation.CANCEL_LOSS_REPORT)
        if isinstance(state, Refusal):
            raise errors.refused(state)
        now = self.deps.now()
        await card_store.set_state(conn, card.card_id, state, now)
        await self.deps.outbox.add(
            conn,
            card.card_id,
            ev.CardLossReportCancelled(
                card_id=str(card.card_id),
                masked_card_number=numbers.mask(card.card_number),
                member_id=str(card.member_id or ""),
                cancelled_by=_reporter(by_member),
                currency_code=card.currency_code,
                balance_minor=card.balance_minor,
                cancelled_time=to_proto(now),
            ),
        )
        return await self._card(conn, card.card_id)

    async def _card(self, conn, card_id: uuid.UUID) -> Card:
        card = await card_store.get(conn, card_id)
        assert card is not None
        return card


def _reporter(by_member: bool) -> res.ReporterKind.ValueType:
    return res.REPORTER_KIND_MEMBER if by_member else res.REPORTER_KIND_OPERATOR
