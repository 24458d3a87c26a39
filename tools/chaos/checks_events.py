"""Each acknowledged effect's event is in its service's outbox exactly once (the outbox check
says it was published, the tap that it was delivered): points' credits and debits by the
transaction an RPC answered, holds, rebates, captures and review credits by their reference;
members registered; card holds placed, redeemed, released; each paid membership order's term,
and the terms of a subscription following each other up to the period end subscription shows."""

from __future__ import annotations

import datetime as dt

from loyalty.giftcard.v1 import events_pb2 as gev
from loyalty.giftcard.v1 import resources_pb2 as gres
from loyalty.identity.v1 import events_pb2 as iev
from loyalty.points.v1 import events_pb2 as pev
from loyalty.points.v1 import resources_pb2 as pres
from loyalty.subscription.v1 import events_pb2 as sev
from loyalty.subscription.v1 import subscription_service_pb2 as spb
from services.kit import events

from .book import Book
from .checks_bus import Events, expect_once
from .load_others import Card, Subscriber
from .load_points import Account
from .report import Check

Credited, Debited = pev.PointsCredited, pev.PointsDebited


def points(found: Events, accounts: list[Account]) -> Check:
    check = Check("events: points' effects, once each", "databases (read-only)")
    for a in accounts:
        for tx in a.transactions:
            check.checked += 1
            count = found.of(Credited, "transactionId", tx) + found.of(Debited, "transactionId", tx)
            if count != 1:
                check.problem(f"transaction {tx}: {count} credited/debited events")
        for hold_id, (_, state) in a.holds.items():
            expect_once(check, found, f"hold {hold_id}", pev.PointsHeld, "holdId", hold_id)
            if state == pres.HOLD_STATE_RELEASED:
                expect_once(
                    check, found, f"hold {hold_id}", pev.PointsHoldReleased, "holdId", hold_id
                )
        for order in a.orders.values():
            check.checked += 1
            credits = found.of(Credited, "reference", order.order_id)
            if credits != 1 + order.completed:  # the pending rebate, then its confirmation
                check.problem(
                    f"order {order.order_id}: {credits} rebate credits, completed {order.completed}"
                )
            if order.hold_id:
                expect_once(
                    check, found, f"order {order.order_id}", Debited, "reference", order.order_id
                )
        for review_id in a.reviews:
            expect_once(check, found, f"review {review_id}", Credited, "reference", review_id)
    return check


def registrations(found: Events, members: list[str]) -> Check:
    check = Check("events: members registered, once each", "databases (read-only)")
    for member_id in members:
        expect_once(
            check, found, f"member {member_id}", iev.MemberRegistered, "memberId", member_id
        )
    return check


def cards(found: Events, cards: list[Card]) -> Check:
    check = Check(
        "events: card holds placed, redeemed, released, once each", "databases (read-only)"
    )
    for card in cards:
        for hold in card.holds.values():
            expect_once(
                check, found, f"card hold {hold.hold_id}", gev.HoldPlaced, "holdId", hold.hold_id
            )
            if hold.state == gres.HOLD_STATE_CAPTURED:
                expect_once(
                    check,
                    found,
                    f"card hold {hold.hold_id}",
                    gev.CardRedeemed,
                    "holdId",
                    hold.hold_id,
                )
            elif hold.state == gres.HOLD_STATE_RELEASED:
                expect_once(
                    check,
                    found,
                    f"card hold {hold.hold_id}",
                    gev.HoldReleased,
                    "holdId",
                    hold.hold_id,
                )
    return check


async def terms(book: Book, found: Events, subscribers: list[Subscriber]) -> Check:
    """One activated or renewed event per paid order (one charge asked of the provider for
    each of its orders), the terms back to back, ending where subscription says."""
    check = Check(
        "events: membership terms, once per order, back to back", "databases (read-only) + gRPC"
    )
    activated, renewed = (
        events.type_of(sev.SubscriptionActivated),
        events.type_of(sev.SubscriptionRenewed),
    )
    for s in subscribers:
        for order_id, how in s.orders:
            check.checked += 1
            count = found.of(sev.SubscriptionActivated, "orderId", order_id) + found.of(
                sev.SubscriptionRenewed, "orderId", order_id
            )
            if count != 1:
                check.problem(f"order {order_id} ({how}): {count} activated/renewed events")
            if how == "provider":
                expect_once(
                    check, found, f"order {order_id}", sev.ChargeRequested, "orderId", order_id
                )
        if not s.orders:
            continue
        chain = sorted(
            (_instant(p["periodStart"]), p["periodStart"], p["periodEnd"], type_)
            for type_ in (activated, renewed)
            for p in found.payloads.get(type_, [])
            if p.get("memberId") == s.member_id
        )
        if chain and chain[0][3] != activated:
            check.problem(f"member {s.member_id}: the first term is not an activation")
        for before, after in zip(chain, chain[1:], strict=False):
            if after[0] != _instant(before[2]):
                check.problem(
                    f"member {s.member_id}: a term from {after[1]} after one to {before[2]}"
                )
        shown = await book.read(
            "shop",
            "subscription",
            "GetMemberSubscription",
            spb.GetMemberSubscriptionRequest(member_id=s.member_id),
        )
        end = shown.subscription.period_end.ToDatetime(dt.UTC)
        if chain and _instant(chain[-1][2]) != end:
            check.problem(
                f"member {s.member_id}: terms end {chain[-1][2]}, subscription {end.isoformat()}"
            )
    return check


def _instant(text: str) -> dt.datetime:
    """An RFC 3339 timestamp of proto3 JSON (any fraction, `Z`) as an aware datetime."""
    head, _, fraction = text.rstrip("Z").partition(".")
    stamp = dt.datetime.fromisoformat(head).replace(tzinfo=dt.UTC)
    return stamp + dt.timedelta(microseconds=int((fraction + "000000")[:6] or 0))
