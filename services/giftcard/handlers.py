"""The events giftcard consumes: identity's member events, the storefront's order and payment
events. Each handler checks the event's bounds (anything outside is `errors.Malformed`:
dead-lettered at once with its reason, nothing applied) and calls one use case in the inbox
transaction."""

from __future__ import annotations

import uuid

from loyalty.commerce.v1 import events_pb2 as commerce
from loyalty.identity.v1 import events_pb2 as identity
from services.kit.errors import Violations
from services.kit.inbox import Subscription

from .domain.amounts import MAX_AMOUNT_MINOR
from .usecases import GiftcardUseCases

MAX_HOLDS = 10


def _order_id(v: Violations, value: str) -> None:
    v.text("order_id", value, maximum=128)


def _amount(v: Violations, field: str, value: int) -> None:
    v.check(0 <= value <= MAX_AMOUNT_MINOR, field, f"between 0 and {MAX_AMOUNT_MINOR}")


def _member(v: Violations, value: str) -> uuid.UUID:
    return v.uuid("member_id", value, "a member id")


class Handlers:
    def __init__(self, usecases: GiftcardUseCases) -> None:
        self.uc = usecases

    def subscriptions(self) -> list[Subscription]:
        members = Subscription("giftcard.identity")
        members.add(identity.MemberFrozen, self.member_frozen)
        members.add(identity.MemberUnfrozen, self.member_unfrozen)
        members.add(identity.MemberClosed, self.member_closed)
        storefront = Subscription("giftcard.commerce")
        storefront.add(commerce.OrderPaid, self.order_paid)
        storefront.add(commerce.OrderCancelled, self.order_cancelled)
        storefront.add(commerce.OrderRefunded, self.order_refunded)
        storefront.add(commerce.PaymentSucceeded, self.payment_succeeded)
        storefront.add(commerce.PaymentFailed, self.payment_failed)
        return [members, storefront]

    async def member_frozen(self, conn, event: identity.MemberFrozen, envelope) -> None:
        v = Violations()
        member_id = _member(v, event.member_id)
        v.raise_malformed()
        await self.uc.members.set_status(conn, member_id, "frozen")

    async def member_unfrozen(self, conn, event: identity.MemberUnfrozen, envelope) -> None:
        v = Violations()
        member_id = _member(v, event.member_id)
        v.raise_malformed()
        await self.uc.members.set_status(conn, member_id, "active")

    async def member_closed(self, conn, event: identity.MemberClosed, envelope) -> None:
        v = Violations()
        member_id = _member(v, event.member_id)
        v.raise_malformed()
        await self.uc.members.close(conn, member_id)

    async def order_paid(self, conn, event: commerce.OrderPaid, envelope) -> None:
        v = Violations()
        _order_id(v, event.order_id)
        _amount(v, "gift_card_amount_minor", event.gift_card_amount_minor)
        if len(event.gift_card_hold_ids) > MAX_HOLDS:
            v.add("gift_card_hold_ids", f"at most {MAX_HOLDS}")
        hold_ids = [
            v.uuid(f"gift_card_hold_ids[{i}]", h, "a hold id")
            for i, h in enumerate(event.gift_card_hold_ids[:MAX_HOLDS])
        ]
        if len(set(hold_ids)) != len(hold_ids):
            v.add("gift_card_hold_ids", "a hold is named twice")
        v.raise_malformed()
        if not hold_ids and event.gift_card_amount_minor == 0:
            return  # nothing paid with cards
        await self.uc.orders.paid(conn, event.order_id, hold_ids, event.gift_card_amount_minor)

    async def order_cancelled(self, conn, event: commerce.OrderCancelled, envelope) -> None:
        v = Violations()
        _order_id(v, event.order_id)
        v.raise_malformed()
        await self.uc.orders.cancelled(conn, event.order_id)

    async def order_refunded(self, conn, event: commerce.OrderRefunded, envelope) -> None:
        v = Violations()
        _order_id(v, event.order_id)
        v.text("refund_id", event.refund_id, maximum=128)
        _amount(v, "gift_card_amount_minor", event.gift_card_amount_minor)
        v.raise_malformed()
        if event.gift_card_amount_minor == 0:
            return  # nothing goes back to cards
        await self.uc.orders.refunded(
            conn, event.order_id, event.refund_id, event.gift_card_amount_minor
        )

    async def payment_succeeded(self, conn, event: commerce.PaymentSucceeded, envelope) -> None:
        if event.purpose != "stored_value_top_up":
            return
        v = Violations()
        top_up_id = v.uuid("reference_id", event.reference_id, "a top-up id")
        v.text("payment_id", event.payment_id, maximum=128)
        _amount(v, "amount.amount_minor", event.amount.amount_minor)
        v.raise_malformed()
        await self.uc.stored_value.paid(
            conn, top_up_id, event.payment_id, event.amount.currency_code, event.amount.amount_minor
        )

    async def payment_failed(self, conn, event: commerce.PaymentFailed, envelope) -> None:
        if event.purpose != "stored_value_top_up":
            return
        v = Violations()
        top_up_id = v.uuid("reference_id", event.reference_id, "a top-up id")
        v.raise_malformed()
        await self.uc.stored_value.payment_failed(conn, top_up_id)
