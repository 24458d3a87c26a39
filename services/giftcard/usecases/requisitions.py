"""Requisitions (领用) by a sales desk or for a bulk buyer: approvals by amount, fulfilment from
READY stock, cancellation by the requester, unsold cards returned to stock."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace

from services.kit import errors, ids

from ..deps import GiftcardDeps
from ..domain import approvals as approval_rules
from ..domain import products as product_rules
from ..domain import selling
from ..domain.approvals import ApprovalStatus, Role
from ..domain.refusals import FieldProblem, Refusal
from ..domain.selling import Line, RequisitionStage, RequisitionStep, StockCard
from ..store import card_lists
from ..store import cards as card_store
from ..store import requisitions as store
from ..store.approvals import Given
from ..store.cards import Card
from ..store.requisitions import Requisition
from .approvals import Approvals
from .card_ops import card_not_found

SUBJECT = "requisition"


@dataclass(frozen=True)
class RequisitionView:
    requisition: Requisition
    approvals: list[Given]
    pending: frozenset[Role]


@dataclass(frozen=True)
class Fulfilled:
    view: RequisitionView
    card_ids: list[uuid.UUID]


def stock_card(card: Card) -> StockCard:
    return StockCard(
        card.card_id,
        card.product_id,
        card.face_value_minor,
        card.state,
        card.requisition_id,
        card.after_sale_id is not None,
    )


def _refuse(refusal: Refusal | None) -> None:
    if refusal:
        raise errors.refused(refusal)


def invalid_of(problems: Sequence[FieldProblem]) -> errors.AppError:
    return errors.invalid([(p.field, p.description) for p in problems], problems[0].reason)


async def cards_by_number(conn, numbers: Sequence[str], field: str = "card_numbers") -> list[Card]:
    """The cards named, locked (in id order), in the order listed; an unknown number is
    NOT_FOUND naming its field."""
    found = await card_lists.ids_by_number(conn, list(numbers))
    for i, number in enumerate(numbers):
        if number not in found:
            raise card_not_found(f"{field}[{i}]")
    locked = {c.card_id: c for c in await card_store.lock_many(conn, sorted(set(found.values())))}
    return [locked[found[number]] for number in numbers]


class Requisitions:
    def __init__(self, deps: GiftcardDeps, approvals: Approvals) -> None:
        self.deps = deps
        self.approvals = approvals

    # --- reading --------------------------------------------------------------------------
    async def _status(self, conn, r: Requisition, given: list[Given]) -> ApprovalStatus | None:
        if r.state is not RequisitionStage.REQUESTED:
            return None
        policy = (await self.approvals.policy_version(conn, SUBJECT, r.policy_version)).policy
        status = approval_rules.status(
            policy, r.total_minor, r.requested_by, [g.approval for g in given]
        )
        return status if isinstance(status, ApprovalStatus) else None

    async def views(self, conn, found: Sequence[Requisition]) -> list[RequisitionView]:
        given = await store.given_many(conn, SUBJECT, [r.requisition_id for r in found])
        views = []
        for r in found:
            status = await self._status(conn, r, given[r.requisition_id])
            pending = status.missing if status else frozenset()
            views.append(RequisitionView(r, given[r.requisition_id], pending))
        return views

    async def view(self, conn, r: Requisition) -> RequisitionView:
        return (await self.views(conn, [r]))[0]

    async def get(self, conn, requisition_id: uuid.UUID, *, lock: bool = False) -> Requisition:
        found = await store.get(conn, requisition_id, for_update=lock)
        if found is None:
            raise errors.not_found("REQUISITION", str(requisition_id))
        return found

    async def page(
        self,
        conn,
        *,
        state: RequisitionStage | None,
        sales_desk: str,
        before: uuid.UUID | None,
        limit: int,
    ) -> list[Requisition]:
        return await store.page(
            conn, state=state, sales_desk=sales_desk, before=before, limit=limit
        )

    # --- requesting -----------------------------------------------------------------------
    async def create(
        self,
        conn,
        *,
        kind: str,
        sales_desk: str,
        buyer_name: str,
        buyer_reference: str,
        lines: Sequence[Line],
        note: str,
        actor: str,
    ) -> RequisitionView:
        """PENDING_APPROVAL under the requisition policy in effect, by total face value."""
        products = await store.products(conn, sorted({line.product_id for line in lines}))
        for line in lines:
            if line.product_id not in products:
                raise errors.not_found("PRODUCT", str(line.product_id))
        problems: list[FieldProblem] = []
        resolved: list[Line] = []
        for i, line in enumerate(lines):
            p = products[line.product_id]
            product = product_rules.Product(
                str(p.product_id), p.face_value_minor if p.kind == "denomination" else None
            )
            face = product_rules.batch_face_value(product, line.face_value_minor or None)
            if isinstance(face, FieldProblem):
                problems.append(
                    FieldProblem(f"lines[{i}].face_value_minor", face.description, face.reason)
                )
                continue
            resolved.append(replace(line, face_value_minor=face))
        if problems:
            raise invalid_of(problems)
        currencies = [products[line.product_id].currency_code for line in resolved]
        for i, currency in enumerate(currencies):
            if currency != currencies[0]:
                raise invalid_of(
                    [
                        FieldProblem(
                            f"lines[{i}].product_id",
                            f"in {currency}; lines[0] is in {currencies[0]}",
                            "CURRENCY_MISMATCH",
                        )
                    ]
                )
        twice = selling.duplicate_line(resolved)
        if twice:
            first, second = twice
            raise invalid_of(
                [
                    FieldProblem(
                        f"lines[{second}]", f"the same product and face value as lines[{first}]"
                    )
                ]
            )
        policy = await self.approvals.policy(conn, SUBJECT)
        if policy.currency_code != currencies[0]:
            raise invalid_of(
                [
                    FieldProblem(
                        "lines",
                        f"requisitions are approved in {policy.currency_code}",
                        "CURRENCY_NOT_SUPPORTED",
                    )
                ]
            )
        now = self.deps.now()
        created = await store.insert(
            conn,
            Requisition(
                requisition_id=ids.new_id(),
                kind=kind,
                sales_desk=sales_desk,
                buyer_name=buyer_name,
                buyer_reference=buyer_reference,
                lines=tuple(resolved),
                currency_code=currencies[0],
                total_minor=sum(line.face_value_minor * line.card_count for line in resolved),
                card_count=sum(line.card_count for line in resolved),
                state=RequisitionStage.REQUESTED,
                requested_by=actor,
                note=note,
                policy_version=policy.version,
                rejected_by="",
                reject_reason="",
                fulfilled_by="",
                sold_count=0,
                returned_count=0,
                create_time=now,
                fulfil_time=None,
                update_time=now,
            ),
        )
        return await self.view(conn, created)

    # --- deciding -------------------------------------------------------------------------
    async def approve(
        self,
        conn,
        requisition_id: uuid.UUID,
        *,
        approver: str,
        held: Collection[Role],
        role: str,
        note: str,
    ) -> RequisitionView:
        """One approval; the last one makes it APPROVED. Nobody approves their own request,
        twice, or in a role they do not hold or the amount does not need."""
        r = await self.get(conn, requisition_id, lock=True)
        _refuse(selling.requisition_refusal(r.state, RequisitionStep.APPROVE))
        status = await self.approvals.approve(
            conn,
            SUBJECT,
            r.requisition_id,
            amount_minor=r.total_minor,
            requester=r.requested_by,
            version=r.policy_version,
            approver=approver,
            held=held,
            role=role,
            note=note,
        )
        state = RequisitionStage.APPROVED if status.complete else RequisitionStage.REQUESTED
        r = await store.decide(conn, r.requisition_id, state, self.deps.now())
        return await self.view(conn, r)

    async def reject(
        self,
        conn,
        requisition_id: uuid.UUID,
        *,
        caller: str,
        held: Collection[Role],
        reason: str,
    ) -> RequisitionView:
        """REJECTED, final: by someone holding a role still pending, not the requester nor an
        approver of it."""
        r = await self.get(conn, requisition_id, lock=True)
        _refuse(selling.requisition_refusal(r.state, RequisitionStep.REJECT))
        given = await self.approvals.given(conn, SUBJECT, r.requisition_id)
        status = await self.approvals.status(
            conn, SUBJECT, r.requisition_id, r.total_minor, r.requested_by, r.policy_version
        )
        _refuse(
            selling.decision_refusal(
                r.requested_by, {g.approval.approver for g in given}, caller, held, status
            )
        )
        r = await store.decide(
            conn,
            r.requisition_id,
            RequisitionStage.REJECTED,
            self.deps.now(),
            decided_by=caller,
            reason=reason,
        )
        return await self.view(conn, r)

    async def cancel(
        self, conn, requisition_id: uuid.UUID, *, caller: str, reason: str
    ) -> RequisitionView:
        """Withdrawn by its requester before fulfilment: CANCELLED, final."""
        r = await self.get(conn, requisition_id, lock=True)
        if caller != r.requested_by:
            raise errors.permission_denied("NOT_REQUESTER", "only the requester withdraws it")
        _refuse(selling.requisition_refusal(r.state, RequisitionStep.CANCEL))
        r = await store.decide(
            conn,
            r.requisition_id,
            RequisitionStage.CANCELLED,
            self.deps.now(),
            decided_by=caller,
            reason=reason,
        )
        return await self.view(conn, r)

    # --- handing over ---------------------------------------------------------------------
    async def fulfil(
        self, conn, requisition_id: uuid.UUID, numbers: Sequence[str], actor: str
    ) -> Fulfilled:
        """READY cards matching the lines exactly become REQUISITIONED: the ones listed, or
        with none listed, READY cards of the oldest batches."""
        r = await self.get(conn, requisition_id, lock=True)
        _refuse(selling.requisition_refusal(r.state, RequisitionStep.FULFIL))
        if numbers:
            cards = await cards_by_number(conn, numbers)
            problems = selling.fulfilment_problems(r.lines, [stock_card(c) for c in cards])
            if problems:
                raise invalid_of(problems)
            chosen = [c.card_id for c in cards]
        else:
            chosen = []
            for i, line in enumerate(r.lines):
                picked = await card_lists.pick_ready(
                    conn, line.product_id, line.face_value_minor, line.card_count
                )
                if len(picked) < line.card_count:
                    raise errors.refused(
                        Refusal(
                            "INSUFFICIENT_STOCK",
                            f"line {i} wants {line.card_count} cards, {len(picked)} are READY",
                            metadata={"line": str(i), "available": str(len(picked))},
                        )
                    )
                chosen.extend(c.card_id for c in picked)
        now = self.deps.now()
        await card_lists.draw(conn, chosen, r.requisition_id, now)
        r = await store.fulfil(conn, r.requisition_id, actor, now)
        return Fulfilled(await self.view(conn, r), chosen)

    async def return_cards(
        self, conn, requisition_id: uuid.UUID, numbers: Sequence[str], reason: str
    ) -> tuple[RequisitionView, list[uuid.UUID]]:
        """Unsold cards back to stock (READY); CLOSED once none is left drawn."""
        r = await self.get(conn, requisition_id, lock=True)
        _refuse(selling.requisition_refusal(r.state, RequisitionStep.RETURN))
        cards = await cards_by_number(conn, numbers)
        problems = drawn_problems(r.requisition_id, cards)
        if problems:
            raise invalid_of(problems)
        now = self.deps.now()
        returned = [c.card_id for c in cards]
        await card_lists.to_stock(conn, returned, reason, now)
        r = await store.count_out(conn, r.requisition_id, now, returned=len(returned))
        return await self.view(conn, r), returned


def drawn_problems(
    requisition_id: uuid.UUID, cards: Sequence[Card], field: str = "card_numbers"
) -> list[FieldProblem]:
    """Each card drawn by the requisition, unsold, listed once."""
    problems: list[FieldProblem] = []
    seen: set[uuid.UUID] = set()
    for i, card in enumerate(cards):
        where = f"{field}[{i}]"
        if card.card_id in seen:
            problems.append(FieldProblem(where, "listed twice", "CARD_NOT_IN_REQUISITION"))
            continue
        seen.add(card.card_id)
        problem = selling.drawn_problem(stock_card(card), requisition_id, where)
        if problem:
            problems.append(problem)
    return problems
