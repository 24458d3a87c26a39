"""Operator actions on a card: read, list, freeze, unfreeze, cancel, replace, extend validity.
Each runs in the caller's transaction under the card's row lock; every change of value goes
through the journal; the caller records the action in the audit trail."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from loyalty.giftcard.v1 import events_pb2 as ev
from loyalty.giftcard.v1 import resources_pb2 as res
from services.kit import errors
from services.kit.postings import Entries
from services.kit.timestamps import to_proto

from ..deps import GiftcardDeps
from ..domain import accounts as acc
from ..domain import after_sale as rules
from ..domain import cards as numbers
from ..domain import selling
from ..domain.refusals import FieldProblem, Refusal
from ..domain.selling import ReplacementCause
from ..domain.states import CardOperation, CardState, card_refusal
from ..store import card_lists, journal, pin_locks
from ..store import cards as card_store
from ..store import requisitions as requisition_store
from ..store.card_lists import CardFilter
from ..store.cards import Card
from .holds import Holds

# A card named by its id or by its number (already parsed).
CardRef = uuid.UUID | str


def facts(card: Card) -> rules.CardFacts:
    return rules.CardFacts(
        card.state, card.balance_minor, card.held_minor, card.has_consumption, card.expire_time
    )


def fail(result: Refusal | FieldProblem) -> errors.AppError:
    if isinstance(result, FieldProblem):
        return errors.invalid_field(result)
    return errors.refused(result)


def card_not_found(field: str = "") -> errors.AppError:
    error = errors.not_found("CARD")
    if field:
        error.metadata = {"field": field}
    return error


def activated_event(
    card: Card,
    cause: res.ActivationCause.ValueType,
    now: dt.datetime,
    *,
    after_sale_id: uuid.UUID | None = None,
) -> ev.CardActivated:
    """`card` as it is after its activation."""
    return ev.CardActivated(
        card_id=str(card.card_id),
        masked_card_number=numbers.mask(card.card_number),
        product_id=str(card.product_id),
        cause=cause,
        sale_id=str(card.sale_id or "") if cause == res.ACTIVATION_CAUSE_SALE else "",
        after_sale_id=str(after_sale_id or ""),
        replaces_card_id=str(card.replaces_card_id or ""),
        member_id=str(card.member_id or ""),
        currency_code=card.currency_code,
        balance_minor=card.balance_minor,
        expire_time=to_proto(card.expire_time),
        activated_time=to_proto(now),
    )


@dataclass(frozen=True)
class Unfrozen:
    card: Card
    expired_minor: int | None  # None: spendable again; else the breakage posted


@dataclass(frozen=True)
class Cancelled:
    card: Card
    written_off_minor: int


@dataclass(frozen=True)
class Replaced:
    old: Card
    new: Card
    transferred_minor: int


@dataclass(frozen=True)
class Extended:
    card: Card
    previous_expire_time: dt.datetime | None


class CardOps:
    def __init__(self, deps: GiftcardDeps, holds: Holds | None = None) -> None:
        self.deps = deps
        self.holds = holds

    def business_day(self, now: dt.datetime) -> dt.date:
        return now.astimezone(ZoneInfo(self.deps.settings.business_zone)).date()

    async def post(self, conn, kind: str, entries: Entries, now: dt.datetime, **about) -> uuid.UUID:
        return await journal.post(
            conn, kind, entries.postings, business_day=self.business_day(now), **about
        )

    # --- reading --------------------------------------------------------------------------
    async def find(self, conn, ref: CardRef, *, lock: bool = False) -> Card:
        if isinstance(ref, uuid.UUID):
            card = await (card_store.lock if lock else card_store.get)(conn, ref)
        else:
            card = await card_store.by_number(conn, ref, for_update=lock)
        if card is None:
            raise card_not_found()
        return card

    async def locked_until(self, conn, number_hash: bytes) -> dt.datetime | None:
        """While wrong PINs lock the card's number: when the lock ends."""
        until = await pin_locks.locked_until(conn, number_hash)
        return until if until is not None and until > self.deps.now() else None

    async def page(self, conn, where: CardFilter, *, after: str | None, limit: int) -> list[Card]:
        return await card_lists.page(conn, where, after=after, limit=limit)

    # --- freezing ---------------------------------------------------------------------------
    async def freeze(self, conn, ref: CardRef, reason: str, actor: str) -> Card:
        """冻结: not spendable, the balance kept; its HELD holds go back (checkout's
        `Holds.release_card_holds`)."""
        card = await self.find(conn, ref, lock=True)
        refusal = card_refusal(card.state, CardOperation.FREEZE)
        if refusal:
            raise errors.refused(refusal)
        now = self.deps.now()
        await card_store.set_state(conn, card.card_id, CardState.FROZEN, now, reason)
        if self.holds is not None:
            await self.holds.release_card_holds(conn, card.card_id, actor)
        card = await self.find(conn, card.card_id)
        await self.deps.outbox.add(
            conn,
            card.card_id,
            ev.CardFrozen(
                card_id=str(card.card_id),
                masked_card_number=numbers.mask(card.card_number),
                member_id=str(card.member_id or ""),
                currency_code=card.currency_code,
                balance_minor=card.balance_minor,
                frozen_time=to_proto(now),
            ),
        )
        return card

    async def unfreeze(self, conn, ref: CardRef, reason: str, actor: str) -> Unfrozen:
        """解冻: ACTIVE again, or EXPIRED (its breakage posted) if its validity ended meanwhile
        and nothing is held on it (else the expiry job expires it once its holds settle)."""
        card = await self.find(conn, ref, lock=True)
        refusal = card_refusal(card.state, CardOperation.UNFREEZE)
        if refusal:
            raise errors.refused(refusal)
        now = self.deps.now()
        breakage = rules.expire(facts(card), now)
        expired = breakage if isinstance(breakage, int) else None
        if expired:
            entries = Entries()
            entries.move(
                (acc.CARD_AVAILABLE, card.card_id), (acc.BREAKAGE, ""), expired, acc.EXPIRE
            )
            await self.post(conn, acc.EXPIRE, entries, now, card_id=card.card_id, actor=actor)
        state = CardState.EXPIRED if expired is not None else CardState.ACTIVE
        await card_store.set_state(conn, card.card_id, state, now, reason)
        card = await self.find(conn, card.card_id)
        await self.deps.outbox.add(
            conn,
            card.card_id,
            ev.CardUnfrozen(
                card_id=str(card.card_id),
                masked_card_number=numbers.mask(card.card_number),
                member_id=str(card.member_id or ""),
                currency_code=card.currency_code,
                balance_minor=card.balance_minor,
                unfrozen_time=to_proto(now),
            ),
        )
        if expired is not None:
            await self.deps.outbox.add(
                conn,
                card.card_id,
                ev.CardExpired(
                    card_id=str(card.card_id),
                    masked_card_number=numbers.mask(card.card_number),
                    member_id=str(card.member_id or ""),
                    currency_code=card.currency_code,
                    expired_minor=expired,
                    expired_time=to_proto(card.expire_time),
                ),
            )
        return Unfrozen(card, expired)

    # --- cancelling -------------------------------------------------------------------------
    async def cancel(self, conn, ref: CardRef, reason: str, actor: str) -> Cancelled:
        """注销/废卡 of defective stock: its loaded value written off; a drawn card leaves its
        requisition (closed when none is left drawn)."""
        peeked = await self.find(conn, ref)
        if peeked.requisition_id is not None:  # the requisition before the card, as sales do
            await requisition_store.get(conn, peeked.requisition_id, for_update=True)
        card = await self.find(conn, peeked.card_id, lock=True)
        decided = selling.cancel_refusal(card.state, reason, card.after_sale_id is not None)
        if not isinstance(decided, CardState):
            raise fail(decided)
        now = self.deps.now()
        value = card.balance_minor + card.held_minor
        if card.balance_minor:
            entries = Entries()
            entries.move(
                (acc.CARD_AVAILABLE, card.card_id),
                (acc.WRITE_OFFS, ""),
                card.balance_minor,
                acc.CANCEL,
            )
            await self.post(
                conn, acc.CANCEL, entries, now, card_id=card.card_id, reason=reason, actor=actor
            )
        await card_lists.close(conn, card.card_id, decided, reason, now)
        if card.state is CardState.REQUISITIONED and card.requisition_id is not None:
            await requisition_store.count_out(conn, card.requisition_id, now)
        return Cancelled(await self.find(conn, card.card_id), value)

    # --- replacing --------------------------------------------------------------------------
    async def replace(
        self,
        conn,
        ref: CardRef,
        cause: ReplacementCause,
        new_number: str,
        reason: str,
        actor: str,
    ) -> Replaced:
        """补磁/换卡 or after a loss: the whole balance moves to a blank card, which becomes
        ACTIVE with the old card's product, expiry and binding; the old card is REPLACED."""
        old = await self.find(conn, ref)
        found = await card_lists.ids_by_number(conn, [new_number])
        if new_number not in found:
            raise card_not_found("new_card_number")
        new_id = found[new_number]
        locked = {c.card_id: c for c in await card_store.lock_many(conn, [old.card_id, new_id])}
        old, new = locked[old.card_id], locked[new_id]
        now = self.deps.now()
        refusal = self._replace_refusal(old, new, cause)
        if refusal:
            raise errors.refused(refusal)
        decided = rules.replace(facts(old), new.state, now, same_card=old.card_id == new_id)
        if isinstance(decided, Refusal):
            raise errors.refused(decided)
        blank = _blank_refusal(old, new)
        if blank:
            raise errors.refused(blank)
        amount = decided.amount
        if amount:
            entries = Entries()
            entries.add(acc.CARD_AVAILABLE, old.card_id, -amount, acc.TRANSFER_OUT)
            entries.add(acc.CARD_AVAILABLE, new_id, amount, acc.TRANSFER_IN)
            await self.post(
                conn,
                acc.TRANSFER_OUT,
                entries,
                now,
                card_id=old.card_id,
                member_id=old.member_id,
                reference=str(new_id),
                reason=reason,
                actor=actor,
            )
        await card_lists.close(
            conn, old.card_id, CardState.REPLACED, reason, now, replaced_by=new_id
        )
        await card_lists.receive_replacement(conn, new_id, old, amount, reason, now)
        old, new = await self.find(conn, old.card_id), await self.find(conn, new_id)
        await self.deps.outbox.add(
            conn,
            old.card_id,
            ev.CardReplaced(
                card_id=str(old.card_id),
                masked_card_number=numbers.mask(old.card_number),
                new_card_id=str(new.card_id),
                new_masked_card_number=numbers.mask(new.card_number),
                cause=res.ReplacementCause.Value(f"REPLACEMENT_CAUSE_{cause.name}"),
                member_id=str(old.member_id or ""),
                currency_code=old.currency_code,
                amount_minor=amount,
                replaced_time=to_proto(now),
            ),
        )
        await self.deps.outbox.add(
            conn, new.card_id, activated_event(new, res.ACTIVATION_CAUSE_REPLACEMENT, now)
        )
        return Replaced(old, new, amount)

    @staticmethod
    def _replace_refusal(old: Card, new: Card, cause: ReplacementCause) -> Refusal | None:
        if old.card_id == new.card_id:
            return None  # the domain names it
        if old.after_sale_id is not None:
            return Refusal("AFTER_SALE_PENDING", "a refund or exchange is pending on the card")
        return selling.cause_refusal(cause, old.state)

    # --- validity ---------------------------------------------------------------------------
    async def extend(
        self, conn, ref: CardRef, expire_time: dt.datetime, reason: str, actor: str
    ) -> Extended:
        """延期: a later expiry for a live card, by at most the domain's bound."""
        card = await self.find(conn, ref, lock=True)
        now = self.deps.now()
        problem = rules.extend_validity(facts(card), expire_time, now)
        if isinstance(problem, FieldProblem):
            raise errors.invalid_field(
                FieldProblem("expire_time", problem.description, problem.reason)
            )
        if problem is not None:
            raise errors.refused(problem)
        previous = card.expire_time
        await card_lists.set_expiry(conn, card.card_id, expire_time, reason, now)
        card = await self.find(conn, card.card_id)
        await self.deps.outbox.add(
            conn,
            card.card_id,
            ev.CardValidityExtended(
                card_id=str(card.card_id),
                masked_card_number=numbers.mask(card.card_number),
                member_id=str(card.member_id or ""),
                previous_expire_time=to_proto(previous),
                expire_time=to_proto(expire_time),
                currency_code=card.currency_code,
                restored_minor=0,
                balance_minor=card.balance_minor,
                extended_time=to_proto(now),
            ),
        )
        return Extended(card, previous)


def _blank_refusal(old: Card, new: Card) -> Refusal | None:
    """The new card must be a blank whose secret reached its holder, in the old card's
    currency (its state the domain checked)."""
    if not new.secret_delivered or new.balance_minor or new.held_minor:
        why = "its secret was never delivered" if not new.secret_delivered else "it holds value"
        return Refusal(
            "REPLACEMENT_NOT_BLANK",
            f"the new card is not a usable blank: {why}",
            metadata={"field": "new_card_number"},
        )
    if new.currency_code != old.currency_code:
        return Refusal(
            "CURRENCY_MISMATCH",
            f"the new card is in {new.currency_code}, the old one in {old.currency_code}",
        )
    return None
