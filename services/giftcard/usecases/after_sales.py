"""Refund (退卡) and exchange (调换) requests: only for a card with no consumption record and
nothing held, carried out by the last approval of the after-sale policy (a manager's)."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from loyalty.giftcard.v1 import events_pb2 as ev
from loyalty.giftcard.v1 import resources_pb2 as res
from services.kit import errors, ids
from services.kit.postings import Entries
from services.kit.timestamps import to_proto

from ..deps import GiftcardDeps
from ..domain import accounts as acc
from ..domain import approvals as approval_rules
from ..domain import cards as numbers
from ..domain import products as product_rules
from ..domain import selling
from ..domain.approvals import ApprovalStatus, Role
from ..domain.refusals import Refusal
from ..domain.selling import AfterSaleKind, AfterSaleStage, ExchangeStock
from ..domain.states import CardState
from ..store import after_sales as store
from ..store import card_lists
from ..store import cards as card_store
from ..store import requisitions as requisition_store
from ..store.after_sales import AfterSale
from ..store.approvals import Given
from ..store.cards import Card
from .approvals import Approvals
from .card_ops import CardOps, CardRef, activated_event, facts
from .requisitions import cards_by_number, invalid_of, stock_card

SUBJECT = "after_sale"


@dataclass(frozen=True)
class AfterSaleView:
    after_sale: AfterSale
    card: Card
    approvals: list[Given]
    pending: frozenset[Role]


class AfterSales:
    def __init__(self, deps: GiftcardDeps, approvals: Approvals) -> None:
        self.deps = deps
        self.approvals = approvals
        self.cards = CardOps(deps)  # finding cards and posting to the journal

    # --- reading --------------------------------------------------------------------------
    async def get(self, conn, after_sale_id: uuid.UUID, *, lock: bool = False) -> AfterSale:
        found = await store.get(conn, after_sale_id, for_update=lock)
        if found is None:
            raise errors.not_found("AFTER_SALE", str(after_sale_id))
        return found

    async def views(self, conn, found: Sequence[AfterSale]) -> list[AfterSaleView]:
        given = await requisition_store.given_many(conn, SUBJECT, [a.after_sale_id for a in found])
        views = []
        for a in found:
            card = await card_store.get(conn, a.card_id)
            assert card is not None
            pending: frozenset[Role] = frozenset()
            if a.state is AfterSaleStage.PENDING:
                policy = await self.approvals.policy_version(conn, SUBJECT, a.policy_version)
                status = approval_rules.status(
                    policy.policy,
                    a.amount_minor,
                    a.requested_by,
                    [g.approval for g in given[a.after_sale_id]],
                )
                if isinstance(status, ApprovalStatus):
                    pending = status.missing
            views.append(AfterSaleView(a, card, given[a.after_sale_id], pending))
        return views

    async def view(self, conn, a: AfterSale) -> AfterSaleView:
        return (await self.views(conn, [a]))[0]

    async def page(
        self,
        conn,
        *,
        state: AfterSaleStage | None,
        kind: AfterSaleKind | None,
        card_id: uuid.UUID | None,
        before: uuid.UUID | None,
        limit: int,
    ) -> list[AfterSale]:
        return await store.page(
            conn, state=state, kind=kind, card_id=card_id, before=before, limit=limit
        )

    # --- requesting -----------------------------------------------------------------------
    async def request(
        self,
        conn,
        kind: AfterSaleKind,
        ref: CardRef,
        *,
        reason: str,
        actor: str,
        exchange_numbers: Sequence[str] = (),
    ) -> AfterSaleView:
        """PENDING_APPROVAL: the card (and an exchange's stock cards) set aside, taking no
        holds, until the request is approved or rejected."""
        returned = await self.cards.find(conn, ref)
        stock: list[Card] = []
        if exchange_numbers:
            stock = await cards_by_number(conn, exchange_numbers, "exchange_card_numbers")
        locked = {
            c.card_id: c
            for c in await card_store.lock_many(
                conn, sorted({returned.card_id, *(c.card_id for c in stock)})
            )
        }
        card, stock = locked[returned.card_id], [locked[c.card_id] for c in stock]
        now = self.deps.now()
        amount = selling.returnable(kind, facts(card), card.after_sale_id is not None, now)
        if isinstance(amount, Refusal):
            raise errors.refused(amount)
        if kind is AfterSaleKind.EXCHANGE:
            fulfilled = await requisition_store.fulfilled(
                conn, sorted({c.requisition_id for c in stock if c.requisition_id})
            )
            offered = [
                ExchangeStock(stock_card(c), c.currency_code, c.requisition_id in fulfilled)
                for c in stock
            ]
            problems = selling.exchange_problems(card.card_id, card.currency_code, amount, offered)
            if problems:
                raise invalid_of(problems)
        policy = await self.approvals.policy(conn, SUBJECT)
        if policy.currency_code != card.currency_code:
            raise errors.refused(
                Refusal(
                    "CURRENCY_NOT_SUPPORTED",
                    f"after-sale requests are approved in {policy.currency_code}",
                )
            )
        created = await store.insert(
            conn,
            AfterSale(
                after_sale_id=ids.new_id(),
                kind=kind,
                card_id=card.card_id,
                currency_code=card.currency_code,
                amount_minor=amount,
                exchange_card_ids=tuple(c.card_id for c in stock),
                state=AfterSaleStage.PENDING,
                requested_by=actor,
                reason=reason,
                policy_version=policy.version,
                rejected_by="",
                reject_reason="",
                create_time=now,
                complete_time=None,
            ),
        )
        await card_lists.set_after_sale(
            conn, [card.card_id, *(c.card_id for c in stock)], created.after_sale_id, now
        )
        return await self.view(conn, created)

    # --- deciding -------------------------------------------------------------------------
    async def _lock(self, conn, after_sale_id: uuid.UUID) -> tuple[AfterSale, Card, list[Card]]:
        """The request, then the requisitions its stock cards were drawn by, then its cards
        (the order sales and cancellations lock in too)."""
        a = await self.get(conn, after_sale_id, lock=True)
        refusal = selling.after_sale_refusal(a.state)
        if refusal:
            raise errors.refused(refusal)
        peeked = [await card_store.get(conn, i) for i in a.exchange_card_ids]
        drawn = sorted({c.requisition_id for c in peeked if c and c.requisition_id})
        if drawn:
            await requisition_store.lock_many(conn, drawn)
        locked = {
            c.card_id: c
            for c in await card_store.lock_many(conn, sorted({a.card_id, *a.exchange_card_ids}))
        }
        return a, locked[a.card_id], [locked[i] for i in a.exchange_card_ids]

    async def approve(
        self,
        conn,
        after_sale_id: uuid.UUID,
        *,
        approver: str,
        held: Collection[Role],
        role: str,
        note: str,
    ) -> AfterSaleView:
        """One approval; the last carries the request out."""
        a, card, stock = await self._lock(conn, after_sale_id)
        status = await self.approvals.approve(
            conn,
            SUBJECT,
            a.after_sale_id,
            amount_minor=a.amount_minor,
            requester=a.requested_by,
            version=a.policy_version,
            approver=approver,
            held=held,
            role=role,
            note=note,
        )
        if status.complete:
            a = await self._carry_out(conn, a, card, stock, status, approver)
        return await self.view(conn, a)

    async def _carry_out(
        self,
        conn,
        a: AfterSale,
        card: Card,
        stock: list[Card],
        status: ApprovalStatus,
        actor: str,
    ) -> AfterSale:
        now = self.deps.now()
        amount = selling.carried_out(a.kind, facts(card), status, a.amount_minor, now)
        if isinstance(amount, Refusal):
            raise errors.refused(amount)
        refund = a.kind is AfterSaleKind.REFUND
        account, kind = (
            (acc.CARD_REFUNDS, acc.CARD_REFUND) if refund else (acc.EXCHANGES, acc.EXCHANGE)
        )
        if amount:
            entries = Entries()
            entries.move((acc.CARD_AVAILABLE, card.card_id), (account, ""), amount, kind)
            await self.cards.post(
                conn,
                kind,
                entries,
                now,
                card_id=card.card_id,
                reference=str(a.after_sale_id),
                reason=a.reason,
                actor=actor,
            )
        final = CardState.REFUNDED if refund else CardState.EXCHANGED
        await card_lists.close(conn, card.card_id, final, a.reason, now)
        masked = numbers.mask(card.card_number)
        if refund:
            await self.deps.outbox.add(
                conn,
                card.card_id,
                ev.CardRefunded(
                    card_id=str(card.card_id),
                    masked_card_number=masked,
                    after_sale_id=str(a.after_sale_id),
                    member_id=str(card.member_id or ""),
                    currency_code=card.currency_code,
                    amount_minor=amount,
                    refunded_time=to_proto(now),
                ),
            )
        else:
            await self._give(conn, a, stock, now)
            await self.deps.outbox.add(
                conn,
                card.card_id,
                ev.CardExchanged(
                    card_id=str(card.card_id),
                    masked_card_number=masked,
                    after_sale_id=str(a.after_sale_id),
                    new_card_ids=[str(c.card_id) for c in stock],
                    member_id=str(card.member_id or ""),
                    currency_code=card.currency_code,
                    amount_minor=amount,
                    exchanged_time=to_proto(now),
                ),
            )
        return await store.close(conn, a.after_sale_id, AfterSaleStage.COMPLETED, now)

    async def _give(self, conn, a: AfterSale, stock: list[Card], now) -> None:
        """The exchange's stock cards: drawn and sold at once, valid from now."""
        months = await card_lists.validity_months(conn, sorted({c.product_id for c in stock}))
        zone = self.deps.settings.business_zone
        for card in stock:
            moved = selling.given_in_exchange(card.state)
            if isinstance(moved, Refusal):
                raise errors.refused(moved)
            expire = product_rules.valid_until(now, months[card.product_id], zone)
            await card_lists.activate(
                conn, card.card_id, expire_time=expire, now=now, reason=a.reason
            )
            if card.state is CardState.REQUISITIONED and card.requisition_id is not None:
                await requisition_store.count_out(conn, card.requisition_id, now)
            after = await card_store.get(conn, card.card_id)
            assert after is not None
            await self.deps.outbox.add(
                conn,
                card.card_id,
                activated_event(
                    after, res.ACTIVATION_CAUSE_EXCHANGE, now, after_sale_id=a.after_sale_id
                ),
            )

    async def reject(
        self,
        conn,
        after_sale_id: uuid.UUID,
        *,
        caller: str,
        held: Collection[Role],
        reason: str,
    ) -> AfterSaleView:
        """REJECTED, final: the card usable again, the stock cards released."""
        a, card, stock = await self._lock(conn, after_sale_id)
        given = await self.approvals.given(conn, SUBJECT, a.after_sale_id)
        status = await self.approvals.status(
            conn, SUBJECT, a.after_sale_id, a.amount_minor, a.requested_by, a.policy_version
        )
        refusal = selling.decision_refusal(
            a.requested_by, {g.approval.approver for g in given}, caller, held, status
        )
        if refusal:
            raise errors.refused(refusal)
        now = self.deps.now()
        await card_lists.set_after_sale(
            conn, [card.card_id, *(c.card_id for c in stock)], None, now
        )
        a = await store.close(
            conn, a.after_sale_id, AfterSaleStage.REJECTED, now, rejected_by=caller, reason=reason
        )
        return await self.view(conn, a)
