"""Batch requests, their approval, card generation, the one-time export of the secrets and its
recovery.

Secrets: a card is generated with the keyed hash of a PIN nobody is ever shown (the card is
ISSUED, not spendable, and unknown to everyone until its page is delivered). The PIN printed on
the card is drawn when its export page is delivered: its hash replaces the sealed one in the
same transaction and the PIN itself is only in that response (a replay returns the page
without it). So no secret is ever kept, not even for the time between generation and export.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass

from loyalty.giftcard.v1 import events_pb2
from services.kit import errors, ids
from services.kit.refusals import FieldProblem, Refusal
from services.kit.timestamps import to_proto

from ..deps import GiftcardDeps
from ..domain import approvals as rules
from ..domain import cards as numbers
from ..domain import pins, stock
from ..domain.approvals import Role
from ..domain.products import batch_face_value
from ..domain.states import CardOperation, CardState, card_refusal
from ..domain.stock import BatchState
from ..store import batches as store
from ..store import generation
from ..store import products as product_store
from ..store.approvals import Given
from ..store.batches import BatchRow, CardCounts, Recovery
from ..store.generation import NewCard
from .approvals import Approvals
from .products import domain_product

SUBJECT = "batch"


@dataclass(frozen=True)
class BatchView:
    """A batch as GetBatch shows it."""

    batch: BatchRow
    approvals: list[Given]
    pending: tuple[Role, ...]  # roles still to approve (empty unless pending approval)
    counts: CardCounts
    recoveries: list[Recovery]


@dataclass(frozen=True)
class SecretRow:
    sequence: int
    card_id: uuid.UUID
    card_number: str
    pin: str


@dataclass(frozen=True)
class ExportPage:
    view: BatchView
    page: int
    rows: list[SecretRow]
    remaining: int


@dataclass(frozen=True)
class Recovered:
    view: BatchView
    voided: int
    generated: int


class Batches:
    def __init__(self, deps: GiftcardDeps, approvals: Approvals) -> None:
        self.deps = deps
        self.approvals = approvals

    # --- requests and their approval ------------------------------------------------------
    async def create(
        self,
        conn,
        *,
        product_id: uuid.UUID,
        card_count: int,
        face_value_minor: int | None,
        note: str,
        requester: str,
    ) -> BatchView:
        """A batch request under the BATCH policy in effect now."""
        product = await product_store.get(conn, product_id, for_update=True)
        if product is None:
            raise errors.not_found("PRODUCT", str(product_id))
        if not product.enabled:
            raise errors.failed_precondition("PRODUCT_DISABLED", "the product is disabled")
        face = batch_face_value(domain_product(product), face_value_minor)
        if isinstance(face, FieldProblem):
            raise errors.invalid_field(face)
        if face > stock.MAX_FACE_VALUE_MINOR:
            raise errors.invalid(
                [("face_value_minor", f"at most {stock.MAX_FACE_VALUE_MINOR}")],
                "AMOUNT_TOO_LARGE",
            )
        policy = await self.approvals.policy(conn, SUBJECT)
        if policy.currency_code != product.currency_code:
            raise errors.failed_precondition(
                "CURRENCY_NOT_SUPPORTED",
                f"the batch policy is in {policy.currency_code}, the product in"
                f" {product.currency_code}",
            )
        now = self.deps.now()
        batch = await store.insert(
            conn,
            BatchRow(
                batch_id=ids.new_id(),
                product_id=product.product_id,
                currency_code=product.currency_code,
                face_value_minor=face,
                card_count=card_count,
                total_minor=card_count * face,
                state=BatchState.PENDING_APPROVAL,
                requested_by=requester,
                note=note,
                policy_version=policy.version,
                rejected_by="",
                reject_reason="",
                exported_pages=0,
                create_time=now,
                approve_time=None,
                generate_time=None,
                export_finish_time=None,
                update_time=now,
            ),
        )
        return await self.view(conn, batch)

    async def approve(
        self,
        conn,
        batch_id: uuid.UUID,
        *,
        approver: str,
        held: frozenset[Role],
        role: str,
        note: str,
    ) -> tuple[BatchView, bool]:
        """One approval (refused: the requester, a second approval by one person, a role not
        held or not pending); the last one makes the batch APPROVED and publishes
        BatchApproved. Returns the view and whether it was the last."""
        batch = await self._locked(conn, batch_id)
        _check(stock.decision_refusal(batch.state))
        status = await self.approvals.approve(
            conn,
            SUBJECT,
            batch_id,
            amount_minor=batch.total_minor,
            requester=batch.requested_by,
            version=batch.policy_version,
            approver=approver,
            held=held,
            role=role,
            note=note,
        )
        if status.complete:
            now = self.deps.now()
            batch = await store.update(
                conn, batch_id, now, state=BatchState.APPROVED, approve_time=now
            )
            await self.deps.outbox.add(
                conn,
                batch_id,
                events_pb2.BatchApproved(
                    batch_id=str(batch_id),
                    product_id=str(batch.product_id),
                    card_count=batch.card_count,
                    currency_code=batch.currency_code,
                    face_value_minor=batch.face_value_minor,
                    total_minor=batch.total_minor,
                    approved_time=to_proto(now),
                ),
            )
        return await self.view(conn, batch), status.complete

    async def reject(
        self, conn, batch_id: uuid.UUID, *, rejecter: str, held: frozenset[Role], reason: str
    ) -> BatchView:
        """REJECTED, final: by whoever could approve it now."""
        batch = await self._locked(conn, batch_id)
        _check(stock.decision_refusal(batch.state))
        policy = await self.approvals.policy_version(conn, SUBJECT, batch.policy_version)
        given = await self.approvals.given(conn, SUBJECT, batch_id)
        _check(
            stock.reject_refusal(
                policy.policy,
                batch.total_minor,
                batch.requested_by,
                [g.approval for g in given],
                rejecter,
                held,
            )
        )
        batch = await store.update(
            conn,
            batch_id,
            self.deps.now(),
            state=BatchState.REJECTED,
            rejected_by=rejecter,
            reject_reason=reason,
        )
        return await self.view(conn, batch)

    # --- generation -----------------------------------------------------------------------
    async def generate(self, conn, batch_id: uuid.UUID) -> BatchView:
        """The batch's cards, ISSUED, in one COPY: GENERATED."""
        batch = await self._locked(conn, batch_id)
        _check(stock.generation_refusal(batch.state))
        now = self.deps.now()
        await self._add_cards(conn, batch, batch.card_count)
        batch = await store.update(
            conn, batch_id, now, state=BatchState.GENERATED, generate_time=now
        )
        return await self.view(conn, batch)

    async def _add_cards(self, conn, batch: BatchRow, count: int) -> None:
        """`count` new ISSUED cards at the end of the batch's export order: random numbers
        (domain.cards.new_numbers) none of which any card has, each with a sealed PIN hash."""
        settings = self.deps.settings
        prefix, length = settings.card_number_prefix, settings.card_number_length
        drawn = await asyncio.to_thread(numbers.new_numbers, count, prefix, length)
        known: set[str] = set()
        while clash := await generation.taken(conn, drawn):
            known |= clash
            kept = [n for n in drawn if n not in clash]
            drawn = kept + numbers.new_numbers(len(clash), prefix, length, known | set(kept))
        first = await generation.next_sequence(conn, batch.batch_id)
        cards = await asyncio.to_thread(_sealed, drawn, first, self.deps.keyring.current)
        await generation.insert_cards(
            conn,
            cards,
            batch_id=batch.batch_id,
            product_id=batch.product_id,
            currency_code=batch.currency_code,
            face_value_minor=batch.face_value_minor,
            now=self.deps.now(),
        )

    # --- the export of the secrets --------------------------------------------------------
    async def export(self, conn, batch_id: uuid.UUID, page_size: int, actor: str) -> ExportPage:
        """The next page of secrets, each delivered once ever: EXPORTING, then EXPORTED when
        nothing remains."""
        batch = await self._locked(conn, batch_id)
        _check(stock.export_refusal(batch.state))
        chosen = await store.undelivered(conn, batch_id, page_size)
        if not chosen:  # every card left undelivered was cancelled meanwhile
            raise errors.failed_precondition(
                "SECRETS_ALREADY_EXPORTED", "no secret of the batch is left to deliver"
            )
        key = self.deps.keyring.current
        drawn = await asyncio.to_thread(lambda: [_drawn(c.card_number, key) for c in chosen])
        now = self.deps.now()
        await store.deliver(
            conn, [c.card_id for c in chosen], key.key_id, [h for _, h in drawn], now
        )
        page = batch.exported_pages + 1
        await store.add_page(conn, batch_id, page, chosen, actor, now)
        remaining = await store.undelivered_count(conn, batch_id)
        batch = await store.update(
            conn,
            batch_id,
            now,
            state=stock.after_export(remaining),
            exported_pages=page,
            export_finish_time=now if remaining == 0 else None,
        )
        rows = [
            SecretRow(c.sequence, c.card_id, c.card_number, pin)
            for c, (pin, _) in zip(chosen, drawn, strict=True)
        ]
        return ExportPage(await self.view(conn, batch), page, rows, remaining)

    async def recover(
        self, conn, batch_id: uuid.UUID, from_page: int, *, actor: str, reason: str
    ) -> Recovered:
        """An interrupted export: the cards delivered in `from_page` and later pages VOIDED
        (refused if any was loaded), as many new cards generated; the export delivers them
        next."""
        batch = await self._locked(conn, batch_id)
        _check(stock.recovery_refusal(batch.state, batch.exported_pages))
        first = await store.page_start(conn, batch_id, from_page)
        if from_page > batch.exported_pages or first is None:
            raise errors.invalid(
                [("from_page", f"pages 1 to {batch.exported_pages} were delivered")]
            )
        delivered = await store.delivered_from(conn, batch_id, first)
        # Only ISSUED cards are voided: one loaded since (or later) carries value.
        loaded = sum(1 for _, s in delivered if card_refusal(CardState(s), CardOperation.VOID))
        _check(stock.loaded_recovery_refusal(loaded))
        voided = [card_id for card_id, _ in delivered]
        now = self.deps.now()
        await store.void(conn, voided, f"export recovery: {reason}", now)
        if voided:
            await self._add_cards(conn, batch, len(voided))
        remaining = await store.undelivered_count(conn, batch_id)
        batch = await store.update(
            conn,
            batch_id,
            now,
            state=stock.after_export(remaining),
            export_finish_time=batch.export_finish_time if remaining == 0 else None,
        )
        await store.add_recovery(
            conn, batch_id, Recovery(from_page, len(voided), len(voided), actor, reason, now)
        )
        return Recovered(await self.view(conn, batch), len(voided), len(voided))

    # --- reading ---------------------------------------------------------------------------
    async def get(self, batch_id: uuid.UUID) -> BatchView:
        async with self.deps.pool.acquire() as conn:
            batch = await store.get(conn, batch_id)
            if batch is None:
                raise errors.not_found("BATCH", str(batch_id))
            return await self.view(conn, batch)

    async def listed(
        self,
        *,
        before: uuid.UUID | None,
        limit: int,
        state: BatchState | None,
        product_id: uuid.UUID | None,
    ) -> list[BatchView]:
        async with self.deps.pool.acquire() as conn:
            rows = await store.listed(
                conn, before=before, limit=limit, state=state, product_id=product_id
            )
            return await self.views(conn, rows)

    async def view(self, conn, batch: BatchRow) -> BatchView:
        (found,) = await self.views(conn, [batch])
        return found

    async def views(self, conn, batches: list[BatchRow]) -> list[BatchView]:
        """Batches with what their views show, read in a few queries whatever their number."""
        if not batches:
            return []
        batch_ids = [b.batch_id for b in batches]
        given = await store.approvals_of(conn, batch_ids)
        counts = await store.card_counts(conn, batch_ids)
        recoveries = await store.recoveries_of(conn, batch_ids)
        policies = {}
        for version in {b.policy_version for b in batches}:
            policies[version] = await self.approvals.policy_version(conn, SUBJECT, version)
        views = []
        for b in batches:
            approvals = given.get(b.batch_id, [])
            pending: tuple[Role, ...] = ()
            if b.state is BatchState.PENDING_APPROVAL:
                status = rules.status(
                    policies[b.policy_version].policy,
                    b.total_minor,
                    b.requested_by,
                    [g.approval for g in approvals],
                )
                if not isinstance(status, Refusal):
                    pending = tuple(sorted(status.missing))
            views.append(
                BatchView(b, approvals, pending, counts[b.batch_id], recoveries.get(b.batch_id, []))
            )
        return views

    async def _locked(self, conn, batch_id: uuid.UUID) -> BatchRow:
        batch = await store.get(conn, batch_id, for_update=True)
        if batch is None:
            raise errors.not_found("BATCH", str(batch_id))
        return batch


def _check(refusal: Refusal | None) -> None:
    if refusal is not None:
        raise errors.refused(refusal)


def _sealed(drawn: list[str], first_sequence: int, key: pins.PinKey) -> list[NewCard]:
    """New cards, each with the hash of a PIN drawn and forgotten at once."""
    cards = []
    for offset, number in enumerate(drawn):
        sealed = pins.hash_pin(pins.new_pin(), number, key)
        cards.append(
            NewCard(ids.new_id(), number, first_sequence + offset, sealed.key_id, sealed.digest)
        )
    return cards


def _drawn(card_number: str, key: pins.PinKey) -> tuple[str, bytes]:
    """The card's PIN, drawn now, and its keyed hash."""
    pin = pins.new_pin()
    return pin, pins.hash_pin(pin, card_number, key).digest
