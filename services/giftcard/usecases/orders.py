"""What the storefront's order events do to the order's holds.

- order.paid captures the holds it names, each whole, once per order (a second order.paid
  for the order changes nothing). A hold released or expired meanwhile is taken again if its
  source still has the amount; otherwise, or when the holds do not add up to the event's
  gift_card_amount_minor, the payment is recorded with its problem for an operator (GetOrder).
- order.cancelled releases the order's held holds.
- order.refunded gives gift_card_amount_minor back to the order's captured holds, the last
  placed first (domain.holds.allocate_refund), never more to a hold than it captured less what
  earlier refunds returned; what cannot go back is recorded as unreturned. A card replaced
  since gets it on its replacement; an expired card gets it and loses it at once (breakage).
  A refund that arrives before its payment waits for it.
"""

from __future__ import annotations

import datetime as dt
import uuid

from loyalty.giftcard.v1 import events_pb2 as ev
from services.kit.postings import Entries
from services.kit.timestamps import to_proto

from ..deps import GiftcardDeps
from ..domain import accounts as acc
from ..domain import cards as numbers
from ..domain.holds import Capture, HoldState, ReleaseReason, allocate_refund, refundable
from ..domain.refusals import Refusal
from ..domain.states import CardState
from ..domain.stored_value import Split, restore_split
from ..store import cards as card_store
from ..store import holds as hold_store
from ..store import journal
from ..store import members as member_store
from ..store import orders as store
from ..store.holds import Hold
from .hold_books import BONUS, PRINCIPAL, source_kind
from .holds import Holds

SYSTEM = "system:order-events"
# Replacement chains are short (a card replaced, its replacement replaced…): a bound on
# following them keeps a bad row from looping.
MAX_REPLACEMENTS = 16


class Orders:
    def __init__(self, deps: GiftcardDeps, holds: Holds) -> None:
        self.deps = deps
        self.holds = holds

    async def paid(
        self, conn, order_id: str, hold_ids: list[uuid.UUID], gift_card_amount: int
    ) -> store.Payment | None:
        now = self.deps.now()
        if await store.payment(conn, order_id) is not None:
            return None
        named = {h.hold_id: h for h in await hold_store.of_order(conn, order_id, for_update=True)}
        captured = 0
        problems: list[str] = []
        for hold_id in hold_ids:
            hold = named.get(hold_id)
            if hold is None:
                other = await hold_store.get(conn, hold_id)
                problems.append(
                    f"hold {hold_id} is of another order" if other else f"no hold {hold_id}"
                )
                continue
            if hold.state is HoldState.CAPTURED:
                captured += hold.amount_minor
            elif hold.state is HoldState.HELD:
                await self.holds.capture(conn, hold, on_time_only=False, actor=SYSTEM)
                captured += hold.amount_minor
            else:
                taken = await self.holds.capture_lapsed(conn, hold, SYSTEM)
                if isinstance(taken, Refusal):
                    problems.append(f"hold {hold_id}: {taken.reason}")
                else:
                    captured += hold.amount_minor
        if captured != gift_card_amount and not problems:
            problems.append(f"the holds captured {captured}, the order says {gift_card_amount}")
        payment = store.Payment(
            order_id=order_id,
            hold_ids=list(hold_ids),
            gift_card_amount_minor=gift_card_amount,
            captured_minor=captured,
            problem="PAYMENT_MISMATCH" if problems else "",
            description="; ".join(problems)[:1000],
            apply_time=now,
        )
        await store.record_payment(conn, payment)
        for refund in await store.waiting_refunds(conn, order_id):
            await self._apply_refund(
                conn, order_id, refund.refund_id, refund.gift_card_amount_minor
            )
        return payment

    async def cancelled(self, conn, order_id: str) -> int:
        released = 0
        for hold in await hold_store.of_order(conn, order_id, for_update=True):
            if hold.state is HoldState.HELD:
                await self.holds.release(conn, hold, ReleaseReason.ORDER_CANCELLED, SYSTEM)
                released += 1
        return released

    async def refunded(self, conn, order_id: str, refund_id: str, amount: int) -> None:
        await store.lock_payment(conn, order_id)
        if not await store.add_refund(conn, order_id, refund_id, amount, self.deps.now()):
            return  # this refund was received already
        if await store.payment(conn, order_id) is None:
            return  # it waits for the payment
        await self._apply_refund(conn, order_id, refund_id, amount)

    async def _apply_refund(self, conn, order_id: str, refund_id: str, amount: int) -> None:
        now = self.deps.now()
        holds = {
            h.hold_id: h
            for h in await hold_store.of_order(conn, order_id, for_update=True)
            if h.state is HoldState.CAPTURED
        }
        captures = [
            Capture(str(h.hold_id), h.amount_minor, h.returned_minor, h.position)
            for h in holds.values()
        ]
        room = refundable(captures)
        giving = min(amount, room)
        returned = 0
        if giving > 0:
            parts = allocate_refund(captures, giving)
            assert isinstance(parts, list)  # giving is within what is refundable
            for part in parts:
                hold = holds[uuid.UUID(part.source)]
                await self._give_back(conn, hold, refund_id, part.amount, now)
                returned += part.amount
        await store.applied_refund(conn, order_id, refund_id, returned, amount - returned, now)

    async def _give_back(self, conn, hold: Hold, refund_id: str, amount: int, now: dt.datetime):
        day = self.holds.business_day(now)
        entries = Entries()
        bonus = 0
        balance = 0
        card = None
        if hold.on_stored_value:
            assert hold.member_id is not None
            await member_store.lock_stored_value(conn, hold.member_id, hold.currency_code)
            split = restore_split(
                Split(hold.amount_minor - hold.bonus_minor, hold.bonus_minor),
                Split(hold.returned_minor - hold.returned_bonus_minor, hold.returned_bonus_minor),
                amount,
            )
            bonus = split.bonus
            if split.principal:
                entries.move(
                    (acc.SV_REDEMPTIONS, PRINCIPAL),
                    (acc.SV_PRINCIPAL, hold.member_id),
                    split.principal,
                    acc.REDEMPTION_RETURN,
                )
            if split.bonus:
                entries.move(
                    (acc.SV_REDEMPTIONS, BONUS),
                    (acc.SV_BONUS, hold.member_id),
                    split.bonus,
                    acc.REDEMPTION_RETURN,
                )
            await journal.post(
                conn,
                acc.REDEMPTION_RETURN,
                entries.postings,
                business_day=day,
                member_id=hold.member_id,
                reference=f"{hold.order_id}/{refund_id}",
                actor=SYSTEM,
            )
        else:
            assert hold.card_id is not None
            card = await self._current_card(conn, hold.card_id)
            entries.move(
                (acc.REDEMPTIONS, ""),
                (acc.CARD_AVAILABLE, card.card_id),
                amount,
                acc.REDEMPTION_RETURN,
            )
            if card.state is CardState.EXPIRED:  # back, and breakage at once
                entries.move(
                    (acc.CARD_AVAILABLE, card.card_id), (acc.BREAKAGE, ""), amount, acc.EXPIRE
                )
            await journal.post(
                conn,
                acc.REDEMPTION_RETURN,
                entries.postings,
                business_day=day,
                card_id=card.card_id,
                reference=f"{hold.order_id}/{refund_id}",
                actor=SYSTEM,
            )
            refreshed = await card_store.get(conn, card.card_id)
            balance = refreshed.balance_minor if refreshed else 0
        await hold_store.add_returned(conn, hold.hold_id, amount, bonus)
        await store.add_return(conn, hold.order_id, refund_id, hold.hold_id, amount, bonus)
        await self.deps.outbox.add(
            conn,
            hold.order_id,
            ev.RedemptionReturned(
                order_id=hold.order_id,
                refund_id=refund_id,
                hold_id=str(hold.hold_id),
                member_id=str(hold.member_id or ""),
                source_kind=source_kind(hold.source_kind),
                card_id=str(card.card_id) if card else "",
                masked_card_number=numbers.mask(card.card_number) if card else "",
                currency_code=hold.currency_code,
                amount_minor=amount,
                bonus_minor=bonus,
                balance_minor=balance,
                returned_time=to_proto(now),
            ),
        )

    async def _current_card(self, conn, card_id: uuid.UUID) -> card_store.Card:
        """The card value goes back to: the card, or the card that replaced it (locked)."""
        for _ in range(MAX_REPLACEMENTS):
            card = await card_store.lock(conn, card_id)
            assert card is not None
            if card.state is not CardState.REPLACED or card.replaced_by_card_id is None:
                return card
            card_id = card.replaced_by_card_id
        raise RuntimeError(f"card {card_id}: replacements do not end")
