"""Checkout holds on cards and stored value: placed (all of an order's sources, or none),
released or expired (the value is back); capturing them is usecases/hold_books.py.

Journal: a card hold moves card_available → card_held, its capture card_held → redemptions,
its release back to card_available. A stored-value hold takes principal first, then bonus
(domain.stored_value.split_spend): sv_principal → sv_held_principal and sv_bonus →
sv_held_bonus; its capture moves both to sv_redemptions (owners "principal" / "bonus", so the
report tells them apart). Every balance changes under its row's lock (cards locked in id order,
then the member's stored value)."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from loyalty.giftcard.v1 import events_pb2 as ev
from services.kit import errors
from services.kit.postings import Entries
from services.kit.timestamps import to_proto

from ..domain import accounts as acc
from ..domain import binding, products
from ..domain import cards as numbers
from ..domain import holds as rules
from ..domain.holds import HoldState, ReleaseReason
from ..domain.refusals import FieldProblem, Refusal
from ..domain.stored_value import Split, split_spend
from ..store import cards as card_store
from ..store import holds as store
from ..store import members as member_store
from ..store.cards import Card
from ..store.holds import Hold
from .hold_books import HoldBooks, release_reason, source_kind

CARD_SECRET, BOUND_CARD, STORED_VALUE = "card_secret", "bound_card", "stored_value"


@dataclass(frozen=True)
class Source:
    """One source of a PlaceHolds, validated: a card (opened by its secret, or bound to the
    member) or the member's stored value."""

    kind: str
    amount_minor: int
    card_id: uuid.UUID | None = None


def fail(result: Refusal | FieldProblem) -> errors.AppError:
    if isinstance(result, FieldProblem):
        return errors.invalid_field(result)
    return errors.refused(result)


class Holds(HoldBooks):
    async def place(
        self,
        conn,
        *,
        order_id: str,
        member_id: uuid.UUID | None,
        currency_code: str,
        order_amount_minor: int,
        channel: str,
        sources: list[Source],
        placed_by: str,
    ) -> list[Hold]:
        """Hold every source or none (any refusal rolls the transaction back)."""
        now = self.deps.now()
        if sum(s.amount_minor for s in sources) > order_amount_minor:
            raise errors.invalid([("sources", "the holds add up to more than order_amount_minor")])
        existing = await store.of_order(conn, order_id, for_update=True)
        held = sum(h.amount_minor for h in existing if h.state is HoldState.HELD)
        if held + sum(s.amount_minor for s in sources) > order_amount_minor:
            raise errors.failed_precondition(
                "ORDER_AMOUNT_EXCEEDED", "the order's holds would exceed its amount"
            )
        if member_id is not None:
            status = await member_store.status(conn, member_id)
            if status != "active":
                raise errors.failed_precondition(
                    f"MEMBER_{status.upper()}", f"the member is {status}"
                )
        card_ids = sorted({s.card_id for s in sources if s.card_id is not None})
        if len(card_ids) != len([s for s in sources if s.card_id is not None]):
            raise errors.invalid([("sources", "a card appears twice")])
        locked = {c.card_id: c for c in await card_store.lock_many(conn, card_ids)}
        position = await store.next_position(conn, order_id)
        made: list[Hold] = []
        for index, source in enumerate(sources):
            if source.kind == STORED_VALUE:
                assert member_id is not None
                hold = await self._hold_stored_value(
                    conn, member_id, currency_code, source.amount_minor, now
                )
            else:
                card = locked.get(source.card_id) if source.card_id else None
                if card is None:
                    raise errors.not_found("CARD", str(source.card_id))
                await self._check_card(
                    conn, card, source, member_id, currency_code, channel, now, index
                )
                hold = Hold(
                    hold_id=uuid.uuid4(),
                    order_id=order_id,
                    position=0,
                    member_id=member_id,
                    source_kind=source.kind,
                    card_id=card.card_id,
                    currency_code=currency_code,
                    amount_minor=source.amount_minor,
                    bonus_minor=0,
                    state=HoldState.HELD,
                    returned_minor=0,
                    returned_bonus_minor=0,
                    expire_time=now,
                    placed_by=placed_by,
                    create_time=now,
                    capture_time=None,
                    release_time=None,
                    release_reason="",
                )
                entries = Entries()
                entries.move(
                    (acc.CARD_AVAILABLE, card.card_id),
                    (acc.CARD_HELD, card.card_id),
                    source.amount_minor,
                    acc.HOLD,
                )
                await self._post(
                    conn,
                    acc.HOLD,
                    entries,
                    now,
                    card_id=card.card_id,
                    reference=order_id,
                    actor=placed_by,
                )
            hold = _replace(
                hold,
                order_id=order_id,
                position=position + index,
                placed_by=placed_by,
                expire_time=rules.hold_expiry(now, self.deps.settings.hold_seconds),
            )
            await store.insert(conn, hold)
            made.append(hold)
            await self.deps.outbox.add(conn, order_id, self._placed_event(hold, locked))
        return made

    async def _check_card(
        self,
        conn,
        card: Card,
        source: Source,
        member_id: uuid.UUID | None,
        currency_code: str,
        channel: str,
        now: dt.datetime,
        index: int,
    ) -> None:
        if source.kind == BOUND_CARD:
            refusal = binding.use_refusal(card.member_id, member_id) if member_id else None
            if member_id is None or refusal is not None:
                # Another member's card is answered as not found (it is not this member's).
                raise errors.not_found("CARD_NOT_BOUND", str(card.card_id))
        if card.currency_code != currency_code:
            raise errors.invalid(
                [
                    (
                        f"sources[{index}]",
                        f"the card is in {card.currency_code}, not {currency_code}",
                    )
                ],
                "CURRENCY_MISMATCH",
            )
        channels = await card_store.product_channels(conn, card.card_id)
        refusal = products.channels_refusal(channels, channel)
        if refusal is not None:
            raise fail(refusal)
        problem = rules.card_hold_refusal(
            card.state, card.expire_time, now, card.balance_minor, source.amount_minor
        )
        if problem is not None:
            raise fail(problem)
        if card.after_sale_id is not None:  # a refund or exchange awaits approval: it stays whole
            raise errors.failed_precondition(
                "CARD_AFTER_SALE_PENDING", "the card has a refund or exchange awaiting approval"
            )

    async def _hold_stored_value(
        self, conn, member_id: uuid.UUID, currency_code: str, amount: int, now: dt.datetime
    ) -> Hold:
        account = await member_store.lock_stored_value(conn, member_id, currency_code)
        if account.currency_code != currency_code:
            raise errors.invalid(
                [("currency_code", f"the stored value is in {account.currency_code}")],
                "CURRENCY_MISMATCH",
            )
        split = split_spend(Split(account.principal_minor, account.bonus_minor), amount)
        if not isinstance(split, Split):
            raise fail(split)
        entries = Entries()
        if split.principal:
            entries.move(
                (acc.SV_PRINCIPAL, member_id),
                (acc.SV_HELD_PRINCIPAL, member_id),
                split.principal,
                acc.HOLD,
            )
        if split.bonus:
            entries.move(
                (acc.SV_BONUS, member_id), (acc.SV_HELD_BONUS, member_id), split.bonus, acc.HOLD
            )
        await self._post(conn, acc.HOLD, entries, now, member_id=member_id)
        return Hold(
            hold_id=uuid.uuid4(),
            order_id="",
            position=0,
            member_id=member_id,
            source_kind=STORED_VALUE,
            card_id=None,
            currency_code=currency_code,
            amount_minor=amount,
            bonus_minor=split.bonus,
            state=HoldState.HELD,
            returned_minor=0,
            returned_bonus_minor=0,
            expire_time=now,
            placed_by="",
            create_time=now,
            capture_time=None,
            release_time=None,
            release_reason="",
        )

    def _placed_event(self, hold: Hold, cards: dict[uuid.UUID, Card]) -> ev.HoldPlaced:
        card = cards.get(hold.card_id) if hold.card_id else None
        return ev.HoldPlaced(
            hold_id=str(hold.hold_id),
            order_id=hold.order_id,
            member_id=str(hold.member_id or ""),
            source_kind=source_kind(hold.source_kind),
            card_id=str(hold.card_id or ""),
            masked_card_number=numbers.mask(card.card_number) if card else "",
            currency_code=hold.currency_code,
            amount_minor=hold.amount_minor,
            expire_time=to_proto(hold.expire_time),
            placed_time=to_proto(hold.create_time),
        )

    # --- release ----------------------------------------------------------------------------
    async def release(self, conn, hold: Hold, why: ReleaseReason, actor: str) -> bool:
        """Give a HELD hold's value back (the caller holds the hold's lock); False when the
        hold was no longer held (nothing to do)."""
        state = rules.release(hold.state, why)
        if isinstance(state, Refusal):
            raise errors.refused(state)
        if state is None:
            return False
        now = self.deps.now()
        entries = Entries()
        if hold.on_stored_value:
            assert hold.member_id is not None
            await member_store.lock_stored_value(conn, hold.member_id, hold.currency_code)
            principal = hold.amount_minor - hold.bonus_minor
            if principal:
                entries.move(
                    (acc.SV_HELD_PRINCIPAL, hold.member_id),
                    (acc.SV_PRINCIPAL, hold.member_id),
                    principal,
                    acc.HOLD_RELEASE,
                )
            if hold.bonus_minor:
                entries.move(
                    (acc.SV_HELD_BONUS, hold.member_id),
                    (acc.SV_BONUS, hold.member_id),
                    hold.bonus_minor,
                    acc.HOLD_RELEASE,
                )
            await self._post(
                conn,
                acc.HOLD_RELEASE,
                entries,
                now,
                member_id=hold.member_id,
                reference=hold.order_id,
                actor=actor,
            )
        else:
            assert hold.card_id is not None
            await card_store.lock(conn, hold.card_id)
            entries.move(
                (acc.CARD_HELD, hold.card_id),
                (acc.CARD_AVAILABLE, hold.card_id),
                hold.amount_minor,
                acc.HOLD_RELEASE,
            )
            await self._post(
                conn,
                acc.HOLD_RELEASE,
                entries,
                now,
                card_id=hold.card_id,
                reference=hold.order_id,
                actor=actor,
            )
        await store.settle(conn, hold.hold_id, state, now, why.value)
        card = await card_store.get(conn, hold.card_id) if hold.card_id else None
        await self.deps.outbox.add(
            conn,
            hold.order_id,
            ev.HoldReleased(
                hold_id=str(hold.hold_id),
                order_id=hold.order_id,
                member_id=str(hold.member_id or ""),
                source_kind=source_kind(hold.source_kind),
                card_id=str(hold.card_id or ""),
                masked_card_number=numbers.mask(card.card_number) if card else "",
                currency_code=hold.currency_code,
                amount_minor=hold.amount_minor,
                reason=release_reason(why),
                released_time=to_proto(now),
            ),
        )
        return True

    async def release_card_holds(self, conn, card_id: uuid.UUID, actor: str) -> int:
        """A card that may no longer spend (frozen, reported lost): its holds go back."""
        released = 0
        for hold in await store.held_on_card(conn, card_id):
            locked = await store.lock(conn, hold.hold_id)
            if locked is not None and await self.release(
                conn, locked, ReleaseReason.CARD_BLOCKED, actor
            ):
                released += 1
        return released

    async def expire_due(self, pool, limit: int) -> int:
        """The job: holds past their time go back, each in a transaction of its own."""
        async with pool.acquire() as conn:
            due = await store.due(conn, self.deps.now(), limit)
        done = 0
        for hold_id in due:
            async with pool.acquire() as conn, conn.transaction():
                hold = await store.lock(conn, hold_id)
                if hold is not None and await self.release(
                    conn, hold, ReleaseReason.TIMED_OUT, "system"
                ):
                    done += 1
        return done


def _replace(hold: Hold, **changes) -> Hold:
    from dataclasses import replace

    return replace(hold, **changes)
