"""Refund quotes and refunds (domain/refunds.py has the formula), and a closed member's
subscription ended with the refund the formula gives.

The suite takes no money: a refund is decided and recorded here, and announced
(subscription.refunded) with the payments the provider pays it back on."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from loyalty.subscription.v1 import events_pb2 as ev
from loyalty.subscription.v1 import resources_pb2 as res
from loyalty.type.v1 import money_pb2
from services.kit import errors, ids
from services.kit.refusals import Refusal
from services.kit.timestamps import to_proto

from ..deps import SubscriptionDeps
from ..domain import refunds as formula
from ..domain import subscriptions as subs
from ..domain.lifecycle import Operation, State, refusal
from ..domain.refunds import BenefitUse, RefundBasis, RefundQuote
from ..domain.terms import open_terms
from ..store import claims
from ..store import orders as order_store
from ..store import refunds as store
from ..store import subscriptions as sub_store
from ..store.refunds import Cancellation, PaymentBack, RefundRow
from ..store.subscriptions import TermRow
from . import announce, records
from .records import Held

SYSTEM = "system"  # who refunds and cancels for member.closed
CLOSED_REASON = "member closed"


def payments_back(
    amount: int, terms: Sequence[TermRow], now: dt.datetime, charged: dict[uuid.UUID, int]
) -> tuple[PaymentBack, ...]:
    """Where `amount` goes back: the payments of the open terms, newest first, each at most
    what the term is worth and what its payment paid; then the credit a plan change carried
    into an open term goes back on the payments of the terms it was cut from (what each paid
    beyond the part it kept), newest first. `charged` is what each order's payment paid."""
    paid = sorted(
        ((t, t.order_id, t.payment_id) for t in terms if t.payment_id and t.order_id),
        key=lambda found: (found[0].paid_at, found[0].sequence),
        reverse=True,
    )
    pots = [
        (order_id, payment_id, min(t.paid_minor, charged.get(order_id, t.paid_minor)))
        for t, order_id, payment_id in paid
        if t.end_time > now
    ]
    pots += [
        (order_id, payment_id, max(0, charged.get(order_id, t.paid_minor) - t.paid_minor))
        for t, order_id, payment_id in paid
        if t.end_time <= now
    ]
    lines, left = [], amount
    for order_id, payment_id, pot in pots:
        part = min(left, pot)
        if part > 0:
            lines.append(PaymentBack(order_id, payment_id, part))
            left -= part
    return tuple(lines)


def currency_of(held: Held) -> str:
    sub = held.sub
    return (sub.terms[-1].plan if sub.terms else sub.order_plan).currency


def _money(amount: int, currency: str) -> money_pb2.Money:
    return money_pb2.Money(currency_code=currency, amount_minor=amount)


class Refunds:
    def __init__(self, deps: SubscriptionDeps) -> None:
        self.deps = deps

    @property
    def _cooling_off(self) -> dt.timedelta:
        return dt.timedelta(days=self.deps.settings.cooling_off_days)

    async def _uses(self, conn, held: Held, now: dt.datetime) -> list[BenefitUse]:
        """The member's claims a refund at `now` may deduct (from the first open term on)."""
        current = open_terms(held.sub.terms, now)
        since = current[0].start if current else now
        return await claims.uses(conn, held.row.member_id, since)

    async def _figures(
        self,
        conn,
        held: Held,
        q: RefundQuote,
        uses: Sequence[BenefitUse],
        now: dt.datetime,
        refund_id: uuid.UUID | None = None,
        refunded_by: str = "",
        reason: str = "",
    ) -> RefundRow:
        terms = held.row.terms
        charged = await store.charged(conn, [t.order_id for t in terms if t.order_id])
        return RefundRow(
            refund_id=refund_id,
            subscription_id=held.subscription_id,
            member_id=held.row.member_id,
            currency_code=currency_of(held),
            amount_minor=q.amount_minor,
            full_refund=q.basis is RefundBasis.FULL,
            paid_minor=q.paid_minor,
            share_minor=q.share_minor,
            used_value_minor=q.used_value_minor,
            claims_counted=len(formula.uses_in(held.sub.terms, uses, now)),
            term_sequences=tuple(t.sequence for t in terms if t.end_time > now),
            payments=payments_back(q.amount_minor, terms, now, charged),
            refunded_by=refunded_by,
            reason=reason,
            refund_time=now,
        )

    # --- operators ------------------------------------------------------------------------------
    async def quote(self, conn, subscription_id: uuid.UUID) -> tuple[Held, RefundRow]:
        """What a refund would pay now (a quote of 0 included); records nothing."""
        held = await records.get(conn, subscription_id)
        if held is None:
            raise errors.not_found("subscription", str(subscription_id))
        problem = refusal(held.sub.state, Operation.REFUND)
        if problem:
            raise errors.refused(problem)
        now = self.deps.now()
        uses = await self._uses(conn, held, now)
        q = formula.quote(held.sub.terms, uses, now, self._cooling_off)
        return held, await self._figures(conn, held, q, uses, now)

    async def refund(
        self, conn, subscription_id: uuid.UUID, refunded_by: str, reason: str
    ) -> tuple[Held, RefundRow]:
        """Refund by the formula and end the subscription (REFUNDED); refused twice."""
        now = self.deps.now()
        held = await records.get(conn, subscription_id, lock=True)
        if held is None:
            raise errors.not_found("subscription", str(subscription_id))
        uses = await self._uses(conn, held, now)
        outcome = subs.refund(held.sub, uses, now, self._cooling_off)
        if isinstance(outcome, Refusal):
            raise errors.refused(outcome)
        ended, q = outcome
        record = await self._figures(conn, held, q, uses, now, ids.new_id(), refunded_by, reason)
        await sub_store.save(conn, records.changed_row(held.row, ended, now, end_cause="refunded"))
        await store.insert(conn, record)
        await self._cancel_orders(conn, held, now)
        await self.deps.outbox.add(conn, held.subscription_id, _refunded(record))
        await announce.expired(self.deps, conn, held.row, now, "refunded")
        fresh = await records.get(conn, held.subscription_id)
        assert fresh is not None
        return fresh, record

    # --- member.closed --------------------------------------------------------------------------
    async def close_member(self, conn, member_id: uuid.UUID) -> None:
        """The member's live subscription ends now: CANCELLED, refunded by the formula when a
        term was paid, its pending orders cancelled. A member with none changes nothing."""
        held = await records.live(conn, member_id, lock=True)
        if held is None:
            return
        now = self.deps.now()
        uses = await self._uses(conn, held, now)
        outcome = subs.close(held.sub, uses, now, self._cooling_off)
        if isinstance(outcome, Refusal):  # every live state may close: a broken table
            raise errors.refused(outcome)
        ended, _ = outcome
        await sub_store.save(
            conn, records.changed_row(held.row, ended, now, end_cause="member_closed")
        )
        await self._cancel_orders(conn, held, now)
        if held.sub.state is State.PENDING_PAYMENT:
            return  # never paid, never announced: nothing to refund or tell
        record = None
        if held.sub.paid_minor > 0:
            q = formula.quote(held.sub.terms, uses, now, self._cooling_off)
            record = await self._figures(
                conn, held, q, uses, now, ids.new_id(), SYSTEM, CLOSED_REASON
            )
            await store.insert(conn, record)
        await store.cancelled(
            conn, Cancellation(held.subscription_id, "member_closed", SYSTEM, CLOSED_REASON, now)
        )
        await self.deps.outbox.add(
            conn,
            held.subscription_id,
            ev.SubscriptionCancelled(
                subscription_id=str(held.subscription_id),
                member_id=str(member_id),
                effective_end=to_proto(now),
                cause=res.CANCEL_CAUSE_MEMBER_CLOSED,
                cancelled_time=to_proto(now),
            ),
        )
        if record is not None and record.amount_minor > 0:
            await self.deps.outbox.add(conn, held.subscription_id, _refunded(record))
        await announce.expired(self.deps, conn, held.row, now, "member_closed")

    # --- what ending leaves ---------------------------------------------------------------------
    async def _cancel_orders(self, conn, held: Held, now: dt.datetime) -> None:
        """Orders of the subscription still unpaid are CANCELLED; the provider is told of
        those it was asked to charge (a payment arriving anyway is parked)."""
        pending = await store.lock_pending_orders(conn, held.subscription_id)
        for order in await order_store.settle_many(conn, pending, "cancelled", now):
            await announce.charge_cancelled(self.deps, conn, order, now)

    async def details(
        self, conn, subscription_ids: list[uuid.UUID]
    ) -> tuple[dict[uuid.UUID, RefundRow], dict[uuid.UUID, Cancellation]]:
        """The refunds and cancellations of these subscriptions (what a Subscription shows
        beside its row: `refund`, `cancel_time`, `cancelled_by`)."""
        return await store.of_subscriptions(conn, subscription_ids)


def _refunded(r: RefundRow) -> ev.SubscriptionRefunded:
    return ev.SubscriptionRefunded(
        subscription_id=str(r.subscription_id),
        member_id=str(r.member_id),
        refunded=_money(r.amount_minor, r.currency_code),
        refunded_time=to_proto(r.refund_time),
        refund_id=str(r.refund_id),
        full_refund=r.full_refund,
        benefits_used=_money(r.used_value_minor, r.currency_code),
        payments=[
            res.RefundPayment(
                order_id=str(p.order_id) if p.order_id else "",
                payment_id=p.payment_id,
                amount=_money(p.amount_minor, r.currency_code),
            )
            for p in r.payments
        ],
    )
