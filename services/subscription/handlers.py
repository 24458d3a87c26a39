"""The events subscription consumes: identity's member events and the payment provider's
answers (commerce.payment.succeeded / failed, purpose "subscription"). Each handler checks the
event's bounds (anything outside is `errors.Malformed`: dead-lettered at once with its reason,
nothing applied) and calls one use case in the inbox transaction."""

from __future__ import annotations

import re
import uuid

from loyalty.commerce.v1 import events_pb2 as commerce
from loyalty.identity.v1 import events_pb2 as identity
from services.kit import errors, events
from services.kit.errors import Violations
from services.kit.inbox import Subscription

from .usecases import SubscriptionUseCases
from .usecases.purchases import PURPOSE, NotApplied, Paid

MAX_AMOUNT_MINOR = 10**12
_CURRENCY = re.compile(r"[A-Z]{3}")


def _member(v: Violations, value: str) -> uuid.UUID:
    return v.uuid("member_id", value, "a member id")


def _payment(v: Violations, event: commerce.PaymentSucceeded | commerce.PaymentFailed) -> None:
    v.text("reference_id", event.reference_id, maximum=128)
    v.text("payment_id", event.payment_id, maximum=128)
    _member(v, event.member_id)
    v.check(
        0 <= event.amount.amount_minor <= MAX_AMOUNT_MINOR,
        "amount.amount_minor",
        f"between 0 and {MAX_AMOUNT_MINOR}",
    )
    v.check(
        bool(_CURRENCY.fullmatch(event.amount.currency_code)),
        "amount.currency_code",
        "three capital letters",
    )


def _order_id(reference_id: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(reference_id)
    except ValueError:
        return None


class Handlers:
    def __init__(self, usecases: SubscriptionUseCases) -> None:
        self.uc = usecases

    def subscriptions(self) -> list[Subscription]:
        members = Subscription("subscription.identity")
        members.add(identity.MemberFrozen, self.member_frozen)
        members.add(identity.MemberUnfrozen, self.member_unfrozen)
        members.add(identity.MemberClosed, self.member_closed)
        payments = Subscription("subscription.commerce")
        payments.add(commerce.PaymentSucceeded, self.payment_succeeded)
        payments.add(commerce.PaymentFailed, self.payment_failed)
        return [members, payments]

    async def _status(self, conn, member_id: str, status: str) -> None:
        v = Violations()
        parsed = _member(v, member_id)
        v.raise_malformed()
        await self.uc.members.set_status(conn, parsed, status)

    async def member_frozen(self, conn, event: identity.MemberFrozen, envelope) -> None:
        await self._status(conn, event.member_id, "frozen")

    async def member_unfrozen(self, conn, event: identity.MemberUnfrozen, envelope) -> None:
        await self._status(conn, event.member_id, "active")

    async def member_closed(self, conn, event: identity.MemberClosed, envelope) -> None:
        await self._status(conn, event.member_id, "closed")

    async def payment_succeeded(
        self, conn, event: commerce.PaymentSucceeded, envelope: events.Envelope
    ) -> None:
        if event.purpose != PURPOSE:
            return
        v = Violations()
        _payment(v, event)
        v.raise_malformed()
        amount, currency = event.amount.amount_minor, event.amount.currency_code
        order_id = _order_id(event.reference_id)
        uc = self.uc.purchases
        if order_id is None:
            outcome: Paid | NotApplied = NotApplied(
                "ORDER_NOT_FOUND", "the reference is no order id", errors.not_found("order")
            )
        else:
            outcome = await uc.pay(
                conn, order_id, event.payment_id, amount, currency, uuid.UUID(event.member_id)
            )
        if isinstance(outcome, NotApplied):
            await uc.park(
                conn,
                envelope.id,
                event.payment_id,
                event.reference_id,
                event.member_id,
                amount,
                currency,
                outcome,
            )

    async def payment_failed(
        self, conn, event: commerce.PaymentFailed, envelope: events.Envelope
    ) -> None:
        if event.purpose != PURPOSE:
            return
        v = Violations()
        _payment(v, event)
        v.text("failure_reason", event.failure_reason, maximum=512, required=False)
        v.raise_malformed()
        order_id = _order_id(event.reference_id)
        if order_id is not None:
            await self.uc.purchases.payment_failed(conn, order_id, event.failure_reason)
