"""Consumers of other services' events: identity (members), subscription (multiplier), commerce
(orders, reviews). Each handler runs inside the inbox transaction of its event: it checks the
payload and calls one use case."""

from __future__ import annotations

import datetime as dt
import uuid

from loyalty.commerce.v1 import events_pb2 as commerce
from loyalty.identity.v1 import events_pb2 as identity
from loyalty.subscription.v1 import events_pb2 as subscription
from services.kit import events
from services.kit.errors import Violations
from services.kit.inbox import Subscription

from .domain.members import MemberStatus
from .usecases import PointsUseCases
from .usecases.orders import Payment, Refund

# What each subscription event does to the local projection (see domain.subscription).
_SUBSCRIPTION_CHANGES = {
    subscription.SubscriptionActivated: "activated",
    subscription.SubscriptionRenewed: "renewed",
    subscription.SubscriptionRenewalFailed: "renewal_failed",
    subscription.SubscriptionCancelled: "cancelled",
    subscription.SubscriptionExpired: "expired",
    subscription.SubscriptionRefunded: "refunded",
}


def _member(value: str, field: str = "member_id") -> uuid.UUID:
    v = Violations()
    member_id = v.uuid(field, value, "a member id")
    v.raise_malformed()
    return member_id


def _order(order_id: str, member_id: str) -> tuple[str, uuid.UUID]:
    """The order and member ids every commerce event names."""
    v = Violations()
    v.text("order_id", order_id, maximum=128)
    member = v.uuid("member_id", member_id, "a member id")
    v.raise_malformed()
    return order_id, member


def _time(stamp, fallback: dt.datetime) -> dt.datetime:
    return stamp.ToDatetime(dt.UTC) if stamp.seconds or stamp.nanos else fallback


class Handlers:
    def __init__(self, usecases: PointsUseCases) -> None:
        self.usecases = usecases
        self.members = usecases.members
        self.orders = usecases.orders

    def subscriptions(self) -> list[Subscription]:
        members = Subscription("points.identity")
        members.add(identity.MemberRegistered, self.member_registered)
        members.add(identity.MemberFrozen, self.member_frozen)
        members.add(identity.MemberUnfrozen, self.member_unfrozen)
        members.add(identity.MemberClosed, self.member_closed)
        paid_membership = Subscription("points.subscription")
        for message in _SUBSCRIPTION_CHANGES:
            paid_membership.add(message, self.subscription_changed)
        storefront = Subscription("points.commerce")
        storefront.add(commerce.OrderPaid, self.order_paid)
        storefront.add(commerce.OrderCompleted, self.order_completed)
        storefront.add(commerce.OrderRefunded, self.order_refunded)
        storefront.add(commerce.OrderCancelled, self.order_cancelled)
        storefront.add(commerce.ReviewPosted, self.review_posted)
        return [members, paid_membership, storefront]

    # --- identity -------------------------------------------------------------------------
    async def member_registered(
        self, conn, p: identity.MemberRegistered, envelope: events.Envelope
    ) -> None:
        member_id = _member(p.member_id)
        referrer = _member(p.referred_by, "referred_by") if p.referred_by else None
        await self.members.registered(conn, member_id, referrer)

    async def _status(self, conn, envelope, member_id: str, stamp, status: MemberStatus) -> None:
        member = _member(member_id)
        at = _time(stamp, envelope.time or self.usecases.deps.now())
        await self.members.status_changed(conn, member, status, at)

    async def member_frozen(
        self, conn, p: identity.MemberFrozen, envelope: events.Envelope
    ) -> None:
        await self._status(conn, envelope, p.member_id, p.frozen_time, MemberStatus.FROZEN)

    async def member_unfrozen(
        self, conn, p: identity.MemberUnfrozen, envelope: events.Envelope
    ) -> None:
        await self._status(conn, envelope, p.member_id, p.unfrozen_time, MemberStatus.ACTIVE)

    async def member_closed(
        self, conn, p: identity.MemberClosed, envelope: events.Envelope
    ) -> None:
        await self._status(conn, envelope, p.member_id, p.closed_time, MemberStatus.CLOSED)

    # --- subscription ---------------------------------------------------------------------
    async def subscription_changed(self, conn, p, envelope: events.Envelope) -> None:
        v = Violations()
        subscription_id = p.subscription_id
        v.text("subscription_id", subscription_id, maximum=128)
        member_id = v.uuid("member_id", p.member_id, "a member id")
        v.raise_malformed()
        period_end = getattr(p, "period_end", None)
        await self.members.subscription_changed(
            conn,
            subscription_id,
            member_id,
            _SUBSCRIPTION_CHANGES[type(p)],
            multiplier=getattr(p, "points_multiplier", 0),
            period_end=period_end.ToDatetime(dt.UTC) if period_end else None,
        )

    # --- commerce -------------------------------------------------------------------------
    async def order_paid(self, conn, p: commerce.OrderPaid, envelope: events.Envelope) -> None:
        order_id, member_id = _order(p.order_id, p.member_id)
        v = Violations()
        v.check(p.paid_amount_minor >= 0, "paid_amount_minor", "must not be negative")
        v.check(p.points_used >= 0, "points_used", "must not be negative")
        hold_id = (
            v.uuid("points_hold_id", p.points_hold_id, "a hold id") if p.points_hold_id else None
        )
        v.raise_malformed()
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

    async def order_completed(
        self, conn, p: commerce.OrderCompleted, envelope: events.Envelope
    ) -> None:
        await self.orders.completed(conn, *_order(p.order_id, p.member_id))

    async def order_refunded(
        self, conn, p: commerce.OrderRefunded, envelope: events.Envelope
    ) -> None:
        order_id, member_id = _order(p.order_id, p.member_id)
        refund_id = p.refund_id or envelope.id
        v = Violations()
        v.text("refund_id", refund_id, maximum=128)
        v.check(p.refunded_amount_minor >= 0, "refunded_amount_minor", "must not be negative")
        v.check(p.points_to_return >= 0, "points_to_return", "must not be negative")
        v.raise_malformed()
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

    async def order_cancelled(
        self, conn, p: commerce.OrderCancelled, envelope: events.Envelope
    ) -> None:
        await self.orders.cancelled(conn, *_order(p.order_id, p.member_id))

    async def review_posted(
        self, conn, p: commerce.ReviewPosted, envelope: events.Envelope
    ) -> None:
        v = Violations()
        member_id = v.uuid("member_id", p.member_id, "a member id")
        v.text("review_id", p.review_id, maximum=128)
        v.raise_malformed()
        await self.usecases.earning.review_posted(conn, member_id, p.review_id, p.has_photos)
