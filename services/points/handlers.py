"""Consumers of other services' events: identity (members), subscription (multiplier), commerce
(orders, reviews), growth (upgrade gift packs). Each handler runs inside the inbox transaction of
its event: it checks the payload (ids, and the bounds of domain.commerce and domain.growth on
every amount, points figure and multiplier: `errors.Malformed`, dead-lettered at once) and calls
one use case."""

from __future__ import annotations

import uuid

from loyalty.commerce.v1 import events_pb2 as commerce
from loyalty.growth.v1 import events_pb2 as growth
from loyalty.growth.v1 import resources_pb2 as growth_resources
from loyalty.identity.v1 import events_pb2 as identity
from loyalty.subscription.v1 import events_pb2 as subscription
from services.kit import errors, events, timestamps
from services.kit.errors import Violations
from services.kit.inbox import Subscription

from .domain import commerce as bounds
from .domain import growth as gifts
from .domain.commerce import Cancellation, Command, Completion, Payment, Refund, Review
from .domain.members import MemberStatus
from .usecases import PointsUseCases
from .usecases.parking import Arrival

# What each subscription event does to the local projection (see domain.subscription).
_SUBSCRIPTION_CHANGES = {
    subscription.SubscriptionActivated: "activated",
    subscription.SubscriptionRenewed: "renewed",
    subscription.SubscriptionRenewalFailed: "renewal_failed",
    subscription.SubscriptionCancelled: "cancelled",
    subscription.SubscriptionResumed: "resumed",
    subscription.SubscriptionPlanChanged: "plan_changed",
    subscription.SubscriptionExpired: "expired",
    subscription.SubscriptionRefunded: "refunded",
}


# A tier as growth's references spell it: TIER_GOLD → "gold" (UNSPECIFIED and unknown: none).
_TIER_NAMES = {
    value.number: value.name.removeprefix("TIER_").lower()
    for value in growth_resources.Tier.DESCRIPTOR.values
    if value.number != growth_resources.TIER_UNSPECIFIED
}


def _member(value: str, field: str = "member_id") -> uuid.UUID:
    v = Violations()
    member_id = v.uuid(field, value, "a member id")
    v.raise_malformed()
    return member_id


def _order(v: Violations, order_id: str, member_id: str) -> uuid.UUID:
    """Checks the order and member ids every order event names; the member."""
    v.text("order_id", order_id, maximum=128)
    return v.uuid("member_id", member_id, "a member id")


def _amount(v: Violations, field: str, value: int, maximum: int = bounds.MAX_AMOUNT_MINOR) -> None:
    problem = bounds.amount_problem(value, maximum)
    if problem:
        v.add(field, problem)


def _lines(v: Violations, lines, amounts: tuple[str, ...]) -> None:
    """Amounts (fen) and quantities of an order's or a refund's lines."""
    for i, line in enumerate(lines):
        if len(v.items) >= errors.MAX_VIOLATIONS:
            return  # the answer names no more: walk no further
        for name in amounts:
            _amount(v, f"lines[{i}].{name}", getattr(line, name))
        if getattr(line, "quantity", 0) < 0:
            v.add(f"lines[{i}].quantity", "must not be negative")


def _arrival(envelope: events.Envelope) -> Arrival:
    return Arrival(envelope.id, envelope.type)


class Handlers:
    def __init__(self, usecases: PointsUseCases) -> None:
        self.usecases = usecases
        self.settings = usecases.settings
        self.members = usecases.members
        self.commerce = usecases.commerce

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
        tiers = Subscription("points.growth")
        tiers.add(growth.GrowthGiftPackGranted, self.gift_pack_granted)
        return [members, paid_membership, storefront, tiers]

    # --- identity -------------------------------------------------------------------------
    async def member_registered(
        self, conn, p: identity.MemberRegistered, envelope: events.Envelope
    ) -> None:
        member_id = _member(p.member_id)
        referrer = _member(p.referred_by, "referred_by") if p.referred_by else None
        await self.members.registered(conn, member_id, referrer)

    async def _status(self, conn, envelope, p, stamp: str, status: MemberStatus) -> None:
        v = Violations()
        member = v.uuid("member_id", p.member_id, "a member id")
        at = timestamps.field(v, p, stamp)
        v.raise_malformed()
        await self.members.status_changed(
            conn, member, status, at or envelope.time or self.usecases.deps.now()
        )

    async def member_frozen(
        self, conn, p: identity.MemberFrozen, envelope: events.Envelope
    ) -> None:
        await self._status(conn, envelope, p, "frozen_time", MemberStatus.FROZEN)

    async def member_unfrozen(
        self, conn, p: identity.MemberUnfrozen, envelope: events.Envelope
    ) -> None:
        await self._status(conn, envelope, p, "unfrozen_time", MemberStatus.ACTIVE)

    async def member_closed(
        self, conn, p: identity.MemberClosed, envelope: events.Envelope
    ) -> None:
        await self._status(conn, envelope, p, "closed_time", MemberStatus.CLOSED)

    # --- subscription ---------------------------------------------------------------------
    async def subscription_changed(self, conn, p, envelope: events.Envelope) -> None:
        v = Violations()
        subscription_id = p.subscription_id
        v.text("subscription_id", subscription_id, maximum=128)
        member_id = v.uuid("member_id", p.member_id, "a member id")
        multiplier = getattr(p, "points_multiplier", 0)
        problem = bounds.multiplier_problem(multiplier)
        if problem:
            v.add("points_multiplier", problem)
        if isinstance(p, subscription.SubscriptionRefunded):
            _amount(v, "refunded.amount_minor", p.refunded.amount_minor)
        has_end = p.DESCRIPTOR.fields_by_name.get("period_end") is not None
        period_end = timestamps.field(v, p, "period_end") if has_end else None
        v.raise_malformed()
        await self.members.subscription_changed(
            conn,
            subscription_id,
            member_id,
            _SUBSCRIPTION_CHANGES[type(p)],
            multiplier=multiplier,
            period_end=period_end,
        )

    # --- commerce -------------------------------------------------------------------------
    async def _receive(self, conn, command: Command, envelope: events.Envelope) -> None:
        await self.commerce.receive(conn, command, _arrival(envelope))

    async def order_paid(self, conn, p: commerce.OrderPaid, envelope: events.Envelope) -> None:
        v = Violations()
        member_id = _order(v, p.order_id, p.member_id)
        v.text("merchant_id", p.merchant_id, maximum=128, required=False)
        hold_id = (
            v.uuid("points_hold_id", p.points_hold_id, "a hold id") if p.points_hold_id else None
        )
        payment = Payment(
            order_id=p.order_id,
            member_id=member_id,
            merchant_id=p.merchant_id,
            currency_code=p.currency_code.upper(),
            paid_amount_minor=p.paid_amount_minor,
            points_hold_id=hold_id,
            points_used=p.points_used,
        )
        s = self.settings
        for field, problem in bounds.payment_problems(
            payment, s.max_deduction_percent, s.points_per_cny
        ):
            v.add(field, problem)
        _amount(v, "gift_card_amount_minor", p.gift_card_amount_minor, max(0, p.paid_amount_minor))
        _lines(v, p.lines, ("amount_minor", "paid_amount_minor"))
        v.raise_malformed()
        await self._receive(conn, payment, envelope)

    async def order_completed(
        self, conn, p: commerce.OrderCompleted, envelope: events.Envelope
    ) -> None:
        v = Violations()
        member_id = _order(v, p.order_id, p.member_id)
        v.raise_malformed()
        await self._receive(conn, Completion(p.order_id, member_id), envelope)

    async def order_refunded(
        self, conn, p: commerce.OrderRefunded, envelope: events.Envelope
    ) -> None:
        v = Violations()
        member_id = _order(v, p.order_id, p.member_id)
        refund_id = p.refund_id or envelope.id
        v.text("refund_id", refund_id, maximum=128)
        refund = Refund(
            order_id=p.order_id,
            member_id=member_id,
            refund_id=refund_id,
            refunded_amount_minor=p.refunded_amount_minor,
            points_to_return=p.points_to_return,
            currency_code=p.currency_code.upper(),
        )
        for field, problem in bounds.refund_problems(refund):
            v.add(field, problem)
        _amount(
            v,
            "gift_card_amount_minor",
            p.gift_card_amount_minor,
            max(0, p.refunded_amount_minor),
        )
        _lines(v, p.lines, ("amount_minor",))
        v.raise_malformed()
        await self._receive(conn, refund, envelope)

    async def order_cancelled(
        self, conn, p: commerce.OrderCancelled, envelope: events.Envelope
    ) -> None:
        v = Violations()
        member_id = _order(v, p.order_id, p.member_id)
        v.raise_malformed()
        await self._receive(conn, Cancellation(p.order_id, member_id), envelope)

    async def review_posted(
        self, conn, p: commerce.ReviewPosted, envelope: events.Envelope
    ) -> None:
        v = Violations()
        member_id = v.uuid("member_id", p.member_id, "a member id")
        v.text("review_id", p.review_id, maximum=128)
        v.text("order_id", p.order_id, maximum=128, required=False)
        v.raise_malformed()
        review = Review(p.review_id, member_id, p.order_id, p.has_photos)
        await self._receive(conn, review, envelope)

    # --- growth ---------------------------------------------------------------------------
    async def gift_pack_granted(
        self, conn, p: growth.GrowthGiftPackGranted, envelope: events.Envelope
    ) -> None:
        """The pack's points, once per reference; its coupons are the storefronts' to issue,
        but a pack that breaks the contract anywhere is refused whole."""
        v = Violations()
        v.text("reference", p.reference, maximum=gifts.MAX_REFERENCE)
        member_id = v.uuid("member_id", p.member_id, "a member id")
        # The reference is compared with the member only once both are sound.
        compare = not v.items
        tier = _TIER_NAMES.get(p.tier, "")
        pack = gifts.GiftPack(p.reference, member_id, tier, p.period, p.points)
        for field, problem in gifts.gift_pack_problems(pack):
            if field != "reference" or compare:
                v.add(field, problem)
        _coupons(v, p.coupons)
        currency = bounds.currency_problem(p.currency_code, required=bool(p.coupons))
        if currency:
            v.add("currency_code", currency)
        v.check(p.rule_set_version > 0, "rule_set_version", "must be positive")
        timestamps.field(v, p, "granted_time")
        v.raise_malformed()
        if pack.points == 0:
            return  # coupons only: nothing for points to credit (nor to park)
        await self._receive(conn, pack, envelope)


def _coupons(v: Violations, coupons) -> None:
    """The coupons of a gift pack, as growth bounds them (GiftCoupon)."""
    for i, coupon in enumerate(coupons):
        if len(v.items) >= errors.MAX_VIOLATIONS:
            return  # the answer names no more: walk no further
        if not gifts.COUPON_CODE.fullmatch(coupon.code):
            v.add(f"coupons[{i}].code", "2-64 of a-z, 0-9, _; a letter first")
        if not 1 <= coupon.quantity <= gifts.MAX_COUPON_QUANTITY:
            v.add(f"coupons[{i}].quantity", f"1 to {gifts.MAX_COUPON_QUANTITY}")
        _amount(v, f"coupons[{i}].value_minor", coupon.value_minor, gifts.MAX_COUPON_VALUE_MINOR)
