"""Sales (销售) that activate a requisition's cards, and finance's re-check of each sale."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from loyalty.giftcard.v1 import resources_pb2 as res
from services.kit import errors, ids

from ..deps import GiftcardDeps
from ..domain import approvals as approval_rules
from ..domain import products as product_rules
from ..domain import selling
from ..domain.approvals import Role
from ..domain.refusals import Refusal
from ..domain.selling import RequisitionStep
from ..domain.states import CardOperation, card_refusal
from ..store import card_lists
from ..store import cards as card_store
from ..store import requisitions as requisition_store
from ..store import sales as store
from ..store.cards import Card
from ..store.sales import CheckState, Sale
from .card_ops import activated_event
from .requisitions import cards_by_number, drawn_problems, invalid_of


@dataclass(frozen=True)
class Sold:
    sale: Sale
    cards: list[Card]


class Sales:
    def __init__(self, deps: GiftcardDeps) -> None:
        self.deps = deps

    async def get(self, conn, sale_id: uuid.UUID, *, lock: bool = False) -> Sale:
        found = await store.get(conn, sale_id, for_update=lock)
        if found is None:
            raise errors.not_found("SALE", str(sale_id))
        return found

    async def page(
        self,
        conn,
        *,
        check_state: CheckState | None,
        requisition_id: uuid.UUID | None,
        before: uuid.UUID | None,
        limit: int,
    ) -> list[Sale]:
        return await store.page(
            conn,
            check_state=check_state,
            requisition_id=requisition_id,
            before=before,
            limit=limit,
        )

    async def sell(
        self,
        conn,
        requisition_id: uuid.UUID,
        numbers: Sequence[str],
        *,
        paid_amount_minor: int,
        payment_method: str,
        payment_reference: str,
        buyer_name: str,
        actor: str,
    ) -> Sold:
        """The cards (the listed ones, or every card still drawn) become ACTIVE, valid from
        now for their product's validity; one card.activated each; the sale waits for
        finance's check."""
        r = await requisition_store.get(conn, requisition_id, for_update=True)
        if r is None:
            raise errors.not_found("REQUISITION", str(requisition_id))
        refusal = selling.requisition_refusal(r.state, RequisitionStep.SELL)
        if refusal:
            raise errors.refused(refusal)
        if numbers:
            cards = await cards_by_number(conn, numbers)
            problems = drawn_problems(r.requisition_id, cards)
            if problems:
                raise invalid_of(problems)
        else:
            cards = await card_store.lock_many(
                conn, await card_lists.drawn_ids(conn, r.requisition_id)
            )
            if not cards:
                raise errors.refused(
                    Refusal("NO_CARDS_TO_SELL", "no card of the requisition is left to sell")
                )
        for card in cards:
            refused = card_refusal(card.state, CardOperation.SELL)
            if refused:  # drawn_problems checked the state: a bug if this speaks
                raise errors.refused(refused)
        face_total = sum(c.face_value_minor for c in cards)
        problem = selling.sale_problem(paid_amount_minor, face_total)
        if problem:
            raise errors.invalid_field(problem)
        now = self.deps.now()
        months = await card_lists.validity_months(conn, sorted({c.product_id for c in cards}))
        zone = self.deps.settings.business_zone
        sale_id = ids.new_id()
        sale = await store.insert(
            conn,
            Sale(
                sale_id=sale_id,
                requisition_id=r.requisition_id,
                card_count=len(cards),
                currency_code=r.currency_code,
                face_value_total_minor=face_total,
                paid_amount_minor=paid_amount_minor,
                payment_method=payment_method,
                payment_reference=payment_reference,
                buyer_name=buyer_name or r.buyer_name,
                sold_by=actor,
                sale_time=now,
                check_state=CheckState.PENDING,
                checked_by="",
                check_note="",
                check_time=None,
            ),
        )
        sold = []
        for card in cards:
            expire = product_rules.valid_until(now, months[card.product_id], zone)
            await card_lists.activate(
                conn, card.card_id, expire_time=expire, now=now, sale_id=sale_id
            )
            after = await card_store.get(conn, card.card_id)
            assert after is not None
            sold.append(after)
            await self.deps.outbox.add(
                conn, card.card_id, activated_event(after, res.ACTIVATION_CAUSE_SALE, now)
            )
        await requisition_store.count_out(conn, r.requisition_id, now, sold=len(cards))
        return Sold(sale, sold)

    async def check(
        self,
        conn,
        sale_id: uuid.UUID,
        *,
        outcome: CheckState,
        note: str,
        checker: str,
        held: Collection[Role],
    ) -> Sale:
        """财务复核: once per sale, by finance, never by the seller."""
        sale = await self.get(conn, sale_id, lock=True)
        if sale.check_state is not CheckState.PENDING:
            raise errors.refused(
                Refusal(
                    "SALE_ALREADY_CHECKED",
                    f"the sale was checked already ({sale.check_state.value})",
                    metadata={"state": sale.check_state.value},
                )
            )
        refusal = approval_rules.sale_check_refusal(sale.sold_by, checker, held)
        if refusal:
            raise errors.refused(refusal)
        return await store.check(conn, sale.sale_id, outcome, checker, note, self.deps.now())
