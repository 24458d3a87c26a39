"""Storefront orders → points: hold capture and pending rebate on payment, confirmation and the
referral bonus on completion, proportional reversal on refund, release on cancellation.

Order events arrive at least once and in any order. Every event of an order takes the order's
advisory lock, then the member's row lock; a completion, cancellation or refund that arrives
before the payment is recorded and applied when the payment arrives. A payment whose hold or
currency does not fit is parked (see Parking) and the order stays unpaid. The member is one
points knows (Commerce parks the events of any other).
"""

from __future__ import annotations

import uuid

from services.kit import errors, logging

from .. import metrics
from ..domain import commerce, rebates
from ..domain import holds as holds_domain
from ..domain import rules as rules_domain
from ..domain import subscription as subscription_domain
from ..domain.commerce import NamedHold, Payment, Refund
from ..domain.holds import HoldState, OnPayment, ReleaseReason
from ..domain.members import MemberStatus
from ..domain.rebates import RebateNote, RebateState, Reversal
from ..store import holds, members, subscriptions
from ..store import orders as order_store
from ..store.holds import Hold
from ..store.members import MemberAccount
from ..store.orders import Order
from .accounts import Accounts
from .corrections import Corrections
from .earning import Earning
from .parking import Arrival, Parking
from .rules import Rules
from .spending import Spending

log = logging.get("points.orders")

__all__ = ["Orders", "Payment", "Refund"]


class Orders:
    def __init__(
        self,
        accounts: Accounts,
        rules: Rules,
        earning: Earning,
        spending: Spending,
        corrections: Corrections,
        parking: Parking,
    ) -> None:
        self.accounts = accounts
        self.settings = accounts.settings
        self.rules = rules
        self.earning = earning
        self.spending = spending
        self.corrections = corrections
        self.parking = parking

    async def _open(self, conn, order_id: str, member_id: uuid.UUID) -> Order:
        """Lock the order and its member; the order's row (created on first sight). An event
        naming another member than the order's breaks the contract (errors.Malformed)."""
        await order_store.lock_key(conn, order_id)
        if await members.lock(conn, member_id) is None:
            raise LookupError(f"member {member_id} has no account")  # Commerce parks those
        await order_store.ensure(conn, order_id, member_id)
        order = await self._order(conn, order_id)
        if order.member_id != member_id:
            raise errors.Malformed([("member_id", "the order belongs to another member")])
        return order

    @staticmethod
    async def _order(conn, order_id: str) -> Order:
        """The order's row, which `_open` made sure of (every event of an order opens it)."""
        order = await order_store.get(conn, order_id)
        if order is None:
            raise LookupError(f"order {order_id} has no row")
        return order

    @staticmethod
    async def _member(conn, member_id: uuid.UUID) -> MemberAccount:
        """The member's account, which `_open` made sure of."""
        member = await members.get(conn, member_id)
        if member is None:
            raise LookupError(f"member {member_id} has no account")
        return member

    async def paid(self, conn, p: Payment, arrival: Arrival) -> None:
        order = await self._open(conn, p.order_id, p.member_id)
        if order.paid_at is not None:
            log.info("order_paid_duplicate", order_id=p.order_id)
            return
        hold = await holds.get(conn, p.points_hold_id) if p.points_hold_id else None
        named = NamedHold(hold.member_id, hold.order_id, hold.amount) if hold else None
        unfit = commerce.payment_unfit(p, named)
        if unfit is not None:
            await self.parking.hold(conn, arrival, p, unfit)  # the order stays unpaid
            return
        await order_store.update(
            conn,
            p.order_id,
            paid_at=self.accounts.now(),
            merchant_id=p.merchant_id,
            currency_code=p.currency_code,
            paid_amount_minor=p.paid_amount_minor,
            points_hold_id=p.points_hold_id,
            points_used=p.points_used,
        )
        if hold is not None:
            await self._capture(conn, p, hold)
        await self._rebate(conn, p)
        await self.parking.superseded(conn, p.order_id)
        for refund in await order_store.waiting_refunds(conn, p.order_id):
            await self._waiting_refund(conn, p, refund)
        if order.completed_at is not None:
            await self._complete(conn, p.order_id, p.member_id)
        if order.cancelled_at is not None:
            await self._cancel_rebate(conn, p.order_id, p.member_id)

    async def _waiting_refund(self, conn, p: Payment, refund: order_store.WaitingRefund) -> None:
        """A refund that came before the payment: applied now, or refused if it does not fit
        the payment (kept with its reason; the payment is applied either way)."""
        order = await self._order(conn, p.order_id)
        problem = commerce.refund_against_order(
            refund.currency_code,
            refund.refunded_amount_minor,
            order.currency_code,
            order.paid_amount_minor,
            order.refunded_minor,
        )
        if problem is not None:
            await order_store.refuse_refund(conn, refund.refund_id, problem.reason.value)
            metrics.REFUNDS_REFUSED.labels(problem.reason.value).inc()
            log.warning("refund_refused", order_id=p.order_id, reason=problem.reason.value)
            return
        await self._apply_refund(
            conn,
            p.order_id,
            p.member_id,
            refund.refund_id,
            refund.refunded_amount_minor,
            refund.points_to_return,
        )

    async def _capture(self, conn, p: Payment, hold: Hold) -> None:
        """Capture the payment's hold (payment_unfit made sure it is the order's, as used)."""
        action = holds_domain.on_payment(hold.state)
        if action is OnPayment.CAPTURE:
            await self.spending.capture(conn, hold.hold_id, by_caller=False)
        elif action is OnPayment.CAPTURE_LAPSED:
            await self.spending.capture_lapsed(conn, hold.hold_id)
        await order_store.update(conn, p.order_id, points_captured=hold.amount)

    async def _rebate(self, conn, p: Payment) -> None:
        """The purchase rebate, pending; the order records why it is short or none."""
        note = await self._credit_rebate(conn, p)
        if note is not RebateNote.FULL:
            await order_store.update(conn, p.order_id, rebate_note=note)

    async def _credit_rebate(self, conn, p: Payment) -> RebateNote:
        member = await self._member(conn, p.member_id)
        if member.status is not MemberStatus.ACTIVE:
            log.info("rebate_skipped_member_not_active", order_id=p.order_id)
            return RebateNote.MEMBER_NOT_ACTIVE
        now = self.accounts.now()
        rule = await self.rules.current(conn, rules_domain.CODE_PURCHASE_REBATE, now)
        if rule is None or not rule.enabled:
            return RebateNote.RULE_DISABLED
        projected = await subscriptions.of_member(conn, p.member_id)
        multiplier = subscription_domain.multiplier(
            [(s.state, s.multiplier) for s in projected], self.settings.subscriber_multiplier
        )
        points = rules_domain.rebate_points(rule, p.paid_amount_minor, multiplier)
        room = None
        if points > 0:
            room, _ = await self.earning.cap_room(conn, p.member_id, rule, now)
        points, note = rebates.after_caps(points, room, rules_domain.MAX_POINTS)
        if points <= 0:
            return note
        await self.earning.credit_pending(conn, p.member_id, rule, points, p.order_id)
        await order_store.update(
            conn,
            p.order_id,
            rebate_points=points,
            rebate_state=RebateState.PENDING,
            multiplier=multiplier,
        )
        return note

    async def completed(self, conn, order_id: str, member_id: uuid.UUID) -> None:
        order = await self._open(conn, order_id, member_id)
        if order.completed_at is not None:
            return
        await order_store.update(conn, order_id, completed_at=self.accounts.now())
        if order.paid_at is None:
            return  # applied when the payment arrives
        await self._complete(conn, order_id, member_id)

    async def _complete(self, conn, order_id: str, member_id: uuid.UUID) -> None:
        order = await self._order(conn, order_id)
        confirmed = rebates.on_completion(order.rebate_state)
        if confirmed is not None:
            remaining = rebates.outstanding(order.rebate_points, order.rebate_reversed)
            if remaining > 0:
                await self.earning.confirm_pending(
                    conn, member_id, remaining, rules_domain.CODE_PURCHASE_REBATE, order_id
                )
            await order_store.update(conn, order_id, rebate_state=confirmed)
        if order.paid_amount_minor > order.refunded_minor:
            # A fully refunded order bought nothing: it does not count as the first order.
            await self._first_order(conn, member_id)

    async def _first_order(self, conn, member_id: uuid.UUID) -> None:
        member = await self._member(conn, member_id)
        if member.first_order_completed:
            return
        await members.update(conn, member_id, first_order_completed=True)
        await self.earning.referral_bonus(conn, member_id)

    async def refunded(self, conn, r: Refund) -> None:
        order = await self._open(conn, r.order_id, r.member_id)
        recorded = await order_store.add_refund(
            conn,
            refund_id=r.refund_id,
            order_id=r.order_id,
            member_id=r.member_id,
            amount_minor=r.refunded_amount_minor,
            points_to_return=r.points_to_return,
            currency_code=r.currency_code,
        )
        if not recorded:
            log.info("refund_duplicate", order_id=r.order_id)
            return
        if order.paid_at is None:
            log.info("refund_waits_for_payment", order_id=r.order_id)
            return
        problem = commerce.refund_against_order(
            r.currency_code,
            r.refunded_amount_minor,
            order.currency_code,
            order.paid_amount_minor,
            order.refunded_minor,
        )
        if problem is not None:  # the event's own fault: nothing of it is kept
            raise errors.Malformed([(problem.field, problem.description)])
        await self._apply_refund(
            conn, r.order_id, r.member_id, r.refund_id, r.refunded_amount_minor, r.points_to_return
        )

    async def _apply_refund(
        self,
        conn,
        order_id: str,
        member_id: uuid.UUID,
        refund_id: str,
        amount_minor: int,
        points_to_return: int,
    ) -> None:
        order = await self._order(conn, order_id)
        returned = min(points_to_return, order.points_captured - order.points_returned)
        if returned > 0:
            await self.corrections.return_points(
                conn, member_id, returned, order.points_hold_id, refund_id
            )
        refunded = order.refunded_minor + amount_minor
        reversal, reverse = rebates.on_refund(
            order.rebate_state,
            order.rebate_points,
            order.rebate_reversed,
            order.paid_amount_minor,
            refunded,
        )
        code = rules_domain.CODE_PURCHASE_REBATE
        if reversal is Reversal.CANCEL_PENDING:
            await self.earning.cancel_pending(conn, member_id, reverse, code, refund_id, "refund")
        elif reversal is Reversal.CLAWBACK:
            await self.corrections.clawback(conn, member_id, reverse, code, refund_id)
        await order_store.update(
            conn,
            order_id,
            refunded_minor=refunded,
            rebate_reversed=order.rebate_reversed + reverse,
            points_returned=order.points_returned + max(returned, 0),
        )
        await order_store.mark_refund_applied(conn, refund_id)

    async def cancelled(self, conn, order_id: str, member_id: uuid.UUID) -> None:
        order = await self._open(conn, order_id, member_id)
        if order.cancelled_at is not None:
            return
        await order_store.update(conn, order_id, cancelled_at=self.accounts.now())
        for hold in await holds.for_order(conn, member_id, order_id, (HoldState.HELD,)):
            await self.spending.release(conn, hold.hold_id, ReleaseReason.ORDER_CANCELLED)
        if order.paid_at is not None:
            await self._cancel_rebate(conn, order_id, member_id)

    async def _cancel_rebate(self, conn, order_id: str, member_id: uuid.UUID) -> None:
        order = await self._order(conn, order_id)
        cancelled = rebates.on_cancellation(order.rebate_state)
        if cancelled is None:
            return
        remaining = rebates.outstanding(order.rebate_points, order.rebate_reversed)
        if remaining > 0:
            await self.earning.cancel_pending(
                conn,
                member_id,
                remaining,
                rules_domain.CODE_PURCHASE_REBATE,
                order_id,
                "order cancelled",
            )
        await order_store.update(
            conn, order_id, rebate_state=cancelled, rebate_reversed=order.rebate_points
        )
