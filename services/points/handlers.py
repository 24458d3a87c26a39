"""Consumers of other services' events: identity (members), subscription (multiplier), commerce
(orders, reviews). Each handler runs inside the inbox transaction of its event."""

from __future__ import annotations

import datetime as dt
import uuid

from loyalty.commerce.v1 import events_pb2 as commerce
from loyalty.identity.v1 import events_pb2 as identity
from loyalty.subscription.v1 import events_pb2 as subscription
from services.kit import events, logging
from services.kit.errors import Violations
from services.kit.inbox import Binding

from .domain import rules as rules_domain
from .domain import subscription as subscription_domain
from .ledger import ACTIVE, CLOSED, FROZEN, Ledger
from .orders import Orders, Payment, Refund, earn_quietly
from .store import members, subscriptions

log = logging.get("points.handlers")

IDENTITY = "loyalty.identity.member."
SUBSCRIPTION = "loyalty.subscription.subscription."
COMMERCE = "commerce."


def _checked(v: Violations) -> None:
    """A malformed event can never succeed: it is retried, then dead-lettered for a human."""
    v.raise_if_any("MALFORMED_EVENT")


def _member(value: str, field: str = "member_id") -> uuid.UUID:
    v = Violations()
    member_id = v.uuid(field, value, "a member id")
    _checked(v)
    return member_id


def _order(order_id: str, member_id: str) -> tuple[str, uuid.UUID]:
    """The order and member ids every commerce event names."""
    v = Violations()
    v.text("order_id", order_id, maximum=128)
    member = v.uuid("member_id", member_id, "a member id")
    _checked(v)
    return order_id, member


def _time(stamp, fallback: dt.datetime) -> dt.datetime:
    return stamp.ToDatetime(dt.UTC) if stamp.seconds or stamp.nanos else fallback


class Handlers:
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.orders = Orders(ledger)
        self.settings = ledger.settings

    def consumers(self) -> list[dict]:
        s = self.settings
        return [
            {
                "name": "points.identity",
                "bindings": [Binding(s.events_exchange, IDENTITY + "*.v1")],
                "handlers": {
                    IDENTITY + "registered.v1": self.member_registered,
                    IDENTITY + "frozen.v1": self.member_frozen,
                    IDENTITY + "unfrozen.v1": self.member_unfrozen,
                    IDENTITY + "closed.v1": self.member_closed,
                },
            },
            {
                "name": "points.subscription",
                "bindings": [Binding(s.events_exchange, SUBSCRIPTION + "*.v1")],
                "handlers": {
                    SUBSCRIPTION + name + ".v1": self._subscription(name)
                    for name in (
                        "activated",
                        "renewed",
                        "renewal_failed",
                        "cancelled",
                        "expired",
                        "refunded",
                    )
                },
            },
            {
                "name": "points.commerce",
                "bindings": [
                    Binding(s.commerce_exchange, "commerce.order.*.v1"),
                    Binding(s.commerce_exchange, "commerce.review.*.v1"),
                ],
                "handlers": {
                    "commerce.order.paid.v1": self.order_paid,
                    "commerce.order.completed.v1": self.order_completed,
                    "commerce.order.refunded.v1": self.order_refunded,
                    "commerce.order.cancelled.v1": self.order_cancelled,
                    "commerce.review.posted.v1": self.review_posted,
                },
            },
        ]

    # --- identity -------------------------------------------------------------------------
    async def member_registered(self, conn, envelope: events.Envelope) -> None:
        p = envelope.payload(identity.MemberRegistered)
        member_id = _member(p.member_id)
        referrer = _member(p.referred_by, "referred_by") if p.referred_by else None
        await members.ensure(conn, member_id)
        row = await members.lock(conn, member_id)
        if row["registered"]:
            return
        await members.update(conn, member_id, registered=True, referred_by=referrer)
        if row["status"] == ACTIVE and not row["sign_up_bonus_paid"]:
            await members.update(conn, member_id, sign_up_bonus_paid=True)
            await earn_quietly(
                self.ledger,
                conn,
                member_id,
                rules_domain.CODE_SIGN_UP_BONUS,
                reference="sign_up",
                dedupe_key=f"sign_up:{member_id}",
            )
        # The first order may have completed before this event arrived.
        await self.orders.referral(conn, member_id, "registered")

    async def _set_status(self, conn, envelope, member_id: str, stamp, status: str) -> None:
        member = _member(member_id)
        at = _time(stamp, envelope.time or self.ledger.now())
        await members.ensure(conn, member)
        row = await members.lock(conn, member)
        if row["status"] == CLOSED:
            return  # final
        if row["status_at"] is not None and at < row["status_at"] and status != CLOSED:
            log.info("member_status_stale", status=status)  # an older event arrived late
            return
        await members.update(conn, member, status=status, status_at=at)

    async def member_frozen(self, conn, envelope) -> None:
        p = envelope.payload(identity.MemberFrozen)
        await self._set_status(conn, envelope, p.member_id, p.frozen_time, FROZEN)

    async def member_unfrozen(self, conn, envelope) -> None:
        p = envelope.payload(identity.MemberUnfrozen)
        await self._set_status(conn, envelope, p.member_id, p.unfrozen_time, ACTIVE)

    async def member_closed(self, conn, envelope) -> None:
        p = envelope.payload(identity.MemberClosed)
        await self._set_status(conn, envelope, p.member_id, p.closed_time, CLOSED)

    # --- subscription ---------------------------------------------------------------------
    def _subscription(self, name: str):
        message = {
            "activated": subscription.SubscriptionActivated,
            "renewed": subscription.SubscriptionRenewed,
            "renewal_failed": subscription.SubscriptionRenewalFailed,
            "cancelled": subscription.SubscriptionCancelled,
            "expired": subscription.SubscriptionExpired,
            "refunded": subscription.SubscriptionRefunded,
        }[name]

        async def handle(conn, envelope) -> None:
            p = envelope.payload(message)
            v = Violations()
            subscription_id = p.subscription_id
            v.text("subscription_id", subscription_id, maximum=128)
            member_id = v.uuid("member_id", p.member_id, "a member id")
            _checked(v)
            current = await subscriptions.lock(conn, subscription_id)
            state = subscription_domain.state_after(current and current["state"], name)
            if state is None:
                return
            period_end = getattr(p, "period_end", None)
            await members.ensure(conn, member_id)
            await subscriptions.upsert(
                conn,
                subscription_id=subscription_id,
                member_id=member_id,
                state=state,
                multiplier=getattr(p, "points_multiplier", 0),
                period_end=period_end.ToDatetime(dt.UTC) if period_end else None,
            )

        return handle

    # --- commerce -------------------------------------------------------------------------
    async def order_paid(self, conn, envelope) -> None:
        p = envelope.payload(commerce.OrderPaid)
        order_id, member_id = _order(p.order_id, p.member_id)
        v = Violations()
        v.check(p.paid_amount_minor >= 0, "paid_amount_minor", "must not be negative")
        v.check(p.points_used >= 0, "points_used", "must not be negative")
        hold_id = (
            v.uuid("points_hold_id", p.points_hold_id, "a hold id") if p.points_hold_id else None
        )
        _checked(v)
        await self.orders.paid(
            conn,
            Payment(
                order_id=order_id,
                member_id=member_id,
                merchant_id=p.merchant_id,
                currency_code=p.currency_code.upper(),
                paid_amount_minor=p.paid_amount_minor,
                points_hold_id=hold_id,
                points_used=p.points_used,
            ),
        )

    async def order_completed(self, conn, envelope) -> None:
        p = envelope.payload(commerce.OrderCompleted)
        await self.orders.completed(conn, *_order(p.order_id, p.member_id))

    async def order_refunded(self, conn, envelope) -> None:
        p = envelope.payload(commerce.OrderRefunded)
        order_id, member_id = _order(p.order_id, p.member_id)
        refund_id = p.refund_id or envelope.id
        v = Violations()
        v.text("refund_id", refund_id, maximum=128)
        v.check(p.refunded_amount_minor >= 0, "refunded_amount_minor", "must not be negative")
        v.check(p.points_to_return >= 0, "points_to_return", "must not be negative")
        _checked(v)
        await self.orders.refunded(
            conn,
            Refund(
                order_id=order_id,
                member_id=member_id,
                refund_id=refund_id,
                refunded_amount_minor=p.refunded_amount_minor,
                points_to_return=p.points_to_return,
            ),
        )

    async def order_cancelled(self, conn, envelope) -> None:
        p = envelope.payload(commerce.OrderCancelled)
        await self.orders.cancelled(conn, *_order(p.order_id, p.member_id))

    async def review_posted(self, conn, envelope) -> None:
        p = envelope.payload(commerce.ReviewPosted)
        v = Violations()
        member_id = v.uuid("member_id", p.member_id, "a member id")
        review_id = p.review_id
        v.text("review_id", review_id, maximum=128)
        _checked(v)
        await members.ensure(conn, member_id)
        row = await members.lock(conn, member_id)
        if row["status"] != ACTIVE:
            log.info("review_bonus_skipped_member_not_active")
            return
        code = rules_domain.CODE_REVIEW_PHOTO if p.has_photos else rules_domain.CODE_REVIEW
        await earn_quietly(
            self.ledger,
            conn,
            member_id,
            code,
            reference=review_id,
            dedupe_key=f"review:{review_id}",
        )
