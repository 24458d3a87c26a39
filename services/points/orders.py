"""Storefront orders → points: hold capture and pending rebate on payment, confirmation and the
referral bonus on completion, proportional reversal on refund, release on cancellation.

Order events arrive at least once and in any order. Every event of an order takes the order's
advisory lock, then the member's row lock; a completion, cancellation or refund that arrives
before the payment is recorded and applied when the payment arrives.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from services.kit import errors, logging

from .domain import rules as rules_domain
from .domain import spending
from .domain import subscription as subscription_domain
from .ledger import ACTIVE, CAPTURED, HELD, Ledger
from .store import holds, members, subscriptions
from .store import orders as order_store

log = logging.get("points.orders")
CURRENCY = "CNY"


@dataclass(frozen=True)
class Payment:
    order_id: str
    member_id: uuid.UUID
    merchant_id: str
    currency_code: str
    paid_amount_minor: int
    points_hold_id: uuid.UUID | None
    points_used: int


@dataclass(frozen=True)
class Refund:
    order_id: str
    member_id: uuid.UUID
    refund_id: str
    refunded_amount_minor: int
    points_to_return: int


class Orders:
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.settings = ledger.settings

    async def _open(self, conn, order_id: str, member_id: uuid.UUID):
        """Lock the order and its member; the order's row (created on first sight)."""
        await order_store.lock_key(conn, order_id)
        await members.ensure(conn, member_id)
        await members.lock(conn, member_id)
        await order_store.ensure(conn, order_id, member_id)
        order = await order_store.get(conn, order_id)
        if order["member_id"] != member_id:
            raise ValueError(f"order {order_id} belongs to another member")
        return order

    async def paid(self, conn, p: Payment) -> None:
        order = await self._open(conn, p.order_id, p.member_id)
        if order["paid_at"] is not None:
            log.info("order_paid_duplicate", order_id=p.order_id)
            return
        await order_store.update(
            conn,
            p.order_id,
            paid_at=self.ledger.now(),
            merchant_id=p.merchant_id,
            currency_code=p.currency_code,
            paid_amount_minor=p.paid_amount_minor,
            points_hold_id=p.points_hold_id,
            points_used=p.points_used,
        )
        if p.points_hold_id is not None:
            await self._capture(conn, p)
        await self._rebate(conn, p)
        for refund in await order_store.waiting_refunds(conn, p.order_id):
            await self._apply_refund(
                conn,
                p.order_id,
                p.member_id,
                refund["refund_id"],
                refund["refunded_amount_minor"],
                refund["points_to_return"],
            )
        if order["completed_at"] is not None:
            await self._complete(conn, p.order_id, p.member_id)
        if order["cancelled_at"] is not None:
            await self._cancel_rebate(conn, p.order_id, p.member_id)

    async def _capture(self, conn, p: Payment) -> None:
        hold = await holds.get(conn, p.points_hold_id)
        if hold is None or hold["member_id"] != p.member_id or hold["order_id"] != p.order_id:
            log.warning("order_paid_unknown_hold", order_id=p.order_id)
            return
        if hold["state"] == HELD:
            await self.ledger.capture(conn, hold["hold_id"], use=None)
        elif hold["state"] != CAPTURED:
            await self.ledger.capture_lapsed(conn, hold["hold_id"])
        await order_store.update(conn, p.order_id, points_captured=hold["amount"])

    async def _rebate(self, conn, p: Payment) -> None:
        member = await members.get(conn, p.member_id)
        if member["status"] != ACTIVE:
            log.info("rebate_skipped_member_not_active", order_id=p.order_id)
            return
        if p.currency_code != CURRENCY:
            log.warning("rebate_skipped_currency", order_id=p.order_id)
            return
        now = self.ledger.now()
        rule = await self.ledger.rules.current(conn, rules_domain.CODE_PURCHASE_REBATE, now)
        if rule is None or not rule.enabled:
            return
        multiplier = subscription_domain.multiplier(
            await subscriptions.states(conn, p.member_id), self.settings.subscriber_multiplier
        )
        points = rules_domain.rebate_points(rule, p.paid_amount_minor, multiplier)
        if points <= 0:
            return
        room, _ = await self.ledger.cap_room(conn, p.member_id, rule, now)
        points = points if room is None else min(points, room)
        if points <= 0:
            return
        await self.ledger.credit_pending(conn, p.member_id, rule, points, p.order_id)
        await order_store.update(
            conn,
            p.order_id,
            rebate_points=points,
            rebate_state="pending",
            multiplier=multiplier,
        )

    async def completed(self, conn, order_id: str, member_id: uuid.UUID) -> None:
        order = await self._open(conn, order_id, member_id)
        if order["completed_at"] is not None:
            return
        await order_store.update(conn, order_id, completed_at=self.ledger.now())
        if order["paid_at"] is None:
            return  # applied when the payment arrives
        await self._complete(conn, order_id, member_id)

    async def _complete(self, conn, order_id: str, member_id: uuid.UUID) -> None:
        order = await order_store.get(conn, order_id)
        if order["rebate_state"] == "pending":
            remaining = order["rebate_points"] - order["rebate_reversed"]
            if remaining > 0:
                await self.ledger.confirm_pending(
                    conn, member_id, remaining, rules_domain.CODE_PURCHASE_REBATE, order_id
                )
            await order_store.update(conn, order_id, rebate_state="available")
        if order["paid_amount_minor"] > order["refunded_minor"]:
            # A fully refunded order bought nothing: it does not count as the first order.
            await self._first_order(conn, member_id, order_id)

    async def _first_order(self, conn, member_id: uuid.UUID, order_id: str) -> None:
        member = await members.get(conn, member_id)
        if member["first_order_completed"]:
            return
        await members.update(conn, member_id, first_order_completed=True)
        await self.referral(conn, member_id, order_id)

    async def referral(self, conn, referee: uuid.UUID, reference: str) -> None:
        """Pay the referrer once the referee registered (with a referrer) and completed an order."""
        member = await members.get(conn, referee)
        if not member["first_order_completed"] or member["referral_paid"]:
            return
        referrer = member["referred_by"]
        if referrer is None:
            return
        await members.update(conn, referee, referral_paid=True)
        await members.ensure(conn, referrer)
        await earn_quietly(
            self.ledger,
            conn,
            referrer,
            rules_domain.CODE_REFERRAL_BONUS,
            reference=f"referral:{referee}",
            dedupe_key=f"referral:{referee}",
        )

    async def refunded(self, conn, r: Refund) -> None:
        order = await self._open(conn, r.order_id, r.member_id)
        recorded = await order_store.add_refund(
            conn,
            refund_id=r.refund_id,
            order_id=r.order_id,
            member_id=r.member_id,
            amount_minor=r.refunded_amount_minor,
            points_to_return=r.points_to_return,
        )
        if not recorded:
            log.info("refund_duplicate", order_id=r.order_id)
            return
        if order["paid_at"] is None:
            log.info("refund_waits_for_payment", order_id=r.order_id)
            return
        await self._apply_refund(
            conn, r.order_id, r.member_id, r.refund_id, r.refunded_amount_minor, r.points_to_return
        )

    async def _apply_refund(
        self, conn, order_id, member_id, refund_id, amount_minor: int, points_to_return: int
    ) -> None:
        order = await order_store.get(conn, order_id)
        returned = min(points_to_return, order["points_captured"] - order["points_returned"])
        if returned > 0:
            await self.ledger.return_points(
                conn, member_id, returned, order["points_hold_id"], refund_id
            )
        refunded = order["refunded_minor"] + amount_minor
        target = spending.reversal_target(
            order["rebate_points"], order["paid_amount_minor"], refunded
        )
        reverse = max(0, target - order["rebate_reversed"])
        code = rules_domain.CODE_PURCHASE_REBATE
        if reverse and order["rebate_state"] == "pending":
            await self.ledger.cancel_pending(conn, member_id, reverse, code, refund_id, "refund")
        elif reverse and order["rebate_state"] == "available":
            await self.ledger.clawback(conn, member_id, reverse, code, refund_id)
        else:
            reverse = 0
        await order_store.update(
            conn,
            order_id,
            refunded_minor=refunded,
            rebate_reversed=order["rebate_reversed"] + reverse,
            points_returned=order["points_returned"] + max(returned, 0),
        )
        await order_store.mark_refund_applied(conn, refund_id)

    async def cancelled(self, conn, order_id: str, member_id: uuid.UUID) -> None:
        order = await self._open(conn, order_id, member_id)
        if order["cancelled_at"] is not None:
            return
        await order_store.update(conn, order_id, cancelled_at=self.ledger.now())
        for hold in await holds.for_order(conn, member_id, order_id, (HELD,)):
            await self.ledger.release(conn, hold["hold_id"], "order_cancelled")
        if order["paid_at"] is not None:
            await self._cancel_rebate(conn, order_id, member_id)

    async def _cancel_rebate(self, conn, order_id: str, member_id: uuid.UUID) -> None:
        order = await order_store.get(conn, order_id)
        if order["rebate_state"] != "pending":
            return
        remaining = order["rebate_points"] - order["rebate_reversed"]
        if remaining > 0:
            await self.ledger.cancel_pending(
                conn,
                member_id,
                remaining,
                rules_domain.CODE_PURCHASE_REBATE,
                order_id,
                "order cancelled",
            )
        await order_store.update(
            conn,
            order_id,
            rebate_state="cancelled",
            rebate_reversed=order["rebate_points"],
        )


async def earn_quietly(
    ledger: Ledger,
    conn,
    member_id: uuid.UUID,
    rule_code: str,
    *,
    reference: str,
    dedupe_key: str,
    points: int | None = None,
):
    """Earn under a rule for an event: a refusal (frozen member, disabled rule, cap reached) is
    logged and skipped, never retried, and leaves nothing behind (a savepoint)."""
    rule = await ledger.rules.current(conn, rule_code, ledger.now())
    amount = points if points is not None else (rule.points if rule else 0)
    if rule is None or amount <= 0:
        log.info("earning_skipped_no_rule", rule_code=rule_code)
        return None
    try:
        async with conn.transaction():
            return await ledger.earn(
                conn,
                member_id,
                rule,
                amount,
                reference=reference,
                dedupe_key=dedupe_key,
                clamp=True,
            )
    except errors.AppError as exc:
        log.info("earning_skipped", rule_code=rule_code, reason=exc.reason)
        return None
