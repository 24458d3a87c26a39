"""The conservation checks the public API can answer: each acknowledged request's and event's
effect exists exactly once, read back over gRPC as a storefront or an operator would (balances,
ledgers by transaction and kind, holds, orders, growth's facts, cards, subscription orders,
members). Each returns a `Check`: what it looked at and every difference from the clients'
models."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

import grpc

from loyalty.giftcard.v1 import resources_pb2 as gres
from loyalty.giftcard.v1 import wallet_service_pb2 as wpb
from loyalty.growth.v1 import growth_service_pb2 as grpb
from loyalty.growth.v1 import resources_pb2 as grres
from loyalty.identity.v1 import identity_service_pb2 as ipb
from loyalty.points.v1 import points_service_pb2 as ppb
from loyalty.points.v1 import resources_pb2 as pres
from loyalty.subscription.v1 import resources_pb2 as sres
from loyalty.subscription.v1 import subscription_service_pb2 as spb

from .book import Book
from .load_others import Card, Subscriber
from .load_points import Account, Order
from .report import Check

K = pres.LedgerEntryKind


async def pages(book: Book, caller: str, stub: str, method: str, request, items: str) -> list:
    """Every item of a paged listing."""
    found: list[Any] = []
    while True:
        got = await book.read(caller, stub, method, request)
        found += list(getattr(got, items))
        if not got.next_page_token:
            return found
        request.page_token = got.next_page_token


async def ledger(book: Book, member_id: str) -> list[pres.LedgerEntry]:
    request = ppb.ListLedgerEntriesRequest(member_id=member_id, page_size=500)
    return await pages(book, "shop", "points", "ListLedgerEntries", request, "entries")


def by_kind(entries: Iterable[Any]) -> Counter[Any]:
    """Transactions by kind (a transaction posts one entry per bucket it moves)."""
    return Counter(kind for _, kind in {(e.transaction_id, e.kind) for e in entries})


def _kinds(enum: Any) -> Callable[[Counter[Any]], str]:
    """How transactions by kind are shown: `[CREDIT 2, HOLD 1]`."""

    def shown(counter: Counter[Any]) -> str:
        parts = (f"{enum.Name(k).split('_KIND_')[-1]} {n}" for k, n in sorted(counter.items()))
        return f"[{', '.join(parts)}]"

    return shown


def _differs(
    check: Check,
    what: str,
    found: Any,
    acknowledged: Any,
    said: str = "acknowledged",
    shown: Callable[[Any], str] = str,
) -> None:
    """A problem when what the suite shows differs from what the client's model holds (what
    its acknowledged requests and events must have made): both, `shown` so."""
    if found != acknowledged:
        check.problem(f"{what} {shown(found)}, {said} {shown(acknowledged)}")


async def points_accounts(book: Book, accounts: list[Account], what: str) -> Check:
    """Each member's buckets, its ledger's transactions by kind, the transactions the RPCs
    answered, and its holds' states, against its client's model."""
    check = Check(f"points: {what} (balance, ledger by kind, holds)", "gRPC")
    for a in accounts:
        check.checked += 1
        got = (
            await book.read(
                "shop", "points", "GetBalance", ppb.GetBalanceRequest(member_id=a.member_id)
            )
        ).balance
        _differs(
            check,
            f"member {a.member_id}: (available, pending, held)",
            (got.available, got.pending, got.held),
            (a.available, a.pending, a.held),
        )
        entries = await ledger(book, a.member_id)
        _differs(
            check,
            f"member {a.member_id}: ledger transactions",
            by_kind(entries),
            a.kinds,
            shown=_kinds(K),
        )
        posted = {e.transaction_id for e in entries}
        for missing in sorted(set(a.transactions) - posted):
            check.problem(
                f"member {a.member_id}: transaction {missing} answered, not in the ledger"
            )
        for hold_id, (_, state) in a.holds.items():
            hold = (
                await book.read("shop", "points", "GetHold", ppb.GetHoldRequest(hold_id=hold_id))
            ).hold
            _differs(check, f"hold {hold_id}:", hold.state, state, "expected", pres.HoldState.Name)
    return check


async def storefront_orders(book: Book, orders: list[Order]) -> Check:
    """Every order.paid the broker confirmed was applied by points once, as sent: payment,
    points captured, rebate (state by order.completed)."""
    check = Check("points: storefront orders (payment, hold, rebate)", "gRPC")
    for o in orders:
        check.checked += 1
        try:
            got = (
                await book.read(
                    "shop", "points", "GetOrder", ppb.GetOrderRequest(order_id=o.order_id)
                )
            ).order
        except grpc.aio.AioRpcError as exc:
            check.problem(f"order {o.order_id}: {exc.code().name} (order.paid lost)")
            continue
        state = pres.REBATE_STATE_AVAILABLE if o.completed else pres.REBATE_STATE_PENDING
        found = (
            got.payment.paid_amount_minor,
            got.payment.points_captured,
            got.rebate.points,
            got.rebate.state,
        )
        sent = (o.paid_minor, o.points_used, o.rebate, state)
        what = f"order {o.order_id}: (paid, points captured, rebate, state)"
        _differs(check, what, found, sent, "sent")
    return check


async def growth_facts(
    book: Book, orders: dict[str, list[str]], reviews: dict[str, list[str]]
) -> Check:
    """Growth recorded each order.paid and review once: a member's facts are exactly those."""
    check = Check("growth: order and review facts", "gRPC")
    for member in sorted(set(orders) | set(reviews)):
        for kind, sent in (
            (grres.FACT_KIND_ORDER_PAID, orders.get(member, [])),
            (grres.FACT_KIND_ACTIVITY, reviews.get(member, [])),
        ):
            request = grpb.ListMemberFactsRequest(member_id=member, kind=kind, page_size=500)
            facts = await pages(book, "shop", "growth", "ListMemberFacts", request, "facts")
            check.checked += len(sent)
            _compare(
                check,
                f"member {member} {grres.FactKind.Name(kind)}",
                Counter(f.source_id for f in facts),
                Counter(sent),
            )
    return check


def _compare(check: Check, what: str, found: Counter[str], sent: Counter[str]) -> None:
    for key in sorted(set(found) | set(sent)):
        if found[key] != sent[key]:
            check.problem(f"{what} {key}: {found[key]} recorded, {sent[key]} sent")


async def cards(book: Book, cards: list[Card]) -> Check:
    """Each card's balance and held value, its journal's transactions by kind, its holds."""
    check = Check("giftcard: cards (balance, journal by kind, holds)", "gRPC")
    for card in cards:
        check.checked += 1
        got = (
            await book.read(
                "shop", "wallet", "CheckCardBalance", wpb.CheckCardBalanceRequest(card=card.secret)
            )
        ).card
        _differs(
            check,
            f"card {card.card_id}: (balance, held)",
            (got.balance_minor, got.held_minor),
            (card.balance, card.held),
        )
        request = wpb.ListCardEntriesRequest(card_id=card.card_id, page_size=500)
        entries = await pages(book, "admin", "wallet", "ListCardEntries", request, "entries")
        expected: Counter[Any] = Counter({gres.CARD_ENTRY_KIND_LOAD: 1})
        for hold in card.holds.values():
            expected[gres.CARD_ENTRY_KIND_HOLD] += 1
            if hold.state == gres.HOLD_STATE_CAPTURED:
                expected[gres.CARD_ENTRY_KIND_HOLD_CAPTURE] += 1
            elif hold.state == gres.HOLD_STATE_RELEASED:
                expected[gres.CARD_ENTRY_KIND_HOLD_RELEASE] += 1
        journal = by_kind(entries)
        _differs(
            check,
            f"card {card.card_id}: journal",
            journal,
            expected,
            shown=_kinds(gres.CardEntryKind),
        )
        for hold in card.holds.values():
            got_hold = (
                await book.read(
                    "shop", "wallet", "GetHold", wpb.GetHoldRequest(hold_id=hold.hold_id)
                )
            ).hold
            what = f"card hold {hold.hold_id}:"
            _differs(check, what, got_hold.state, hold.state, "expected", gres.HoldState.Name)
    return check


async def subscriptions(book: Book, subscribers: list[Subscriber]) -> Check:
    """Every order acknowledged is PAID, by the payment it was given, and a member has no
    other order."""
    check = Check("subscription: orders paid once", "gRPC")
    for s in subscribers:
        request = spb.ListSubscriptionOrdersRequest(member_id=s.member_id, page_size=500)
        listed = await pages(
            book, "shop", "subscription", "ListSubscriptionOrders", request, "orders"
        )
        found = {o.order_id: o for o in listed}
        for order_id, how in s.orders:
            check.checked += 1
            order = found.pop(order_id, None)
            if order is None:
                check.problem(f"order {order_id} ({how}): not listed")
            elif order.state != sres.ORDER_STATE_PAID:
                check.problem(f"order {order_id} ({how}): {sres.OrderState.Name(order.state)}")
            elif how != "provider" and order.payment_id != f"pay-{order_id}":
                check.problem(f"order {order_id}: paid by {order.payment_id!r}")
        for order_id in found:
            check.problem(f"member {s.member_id}: order {order_id} nobody asked for")
    return check


async def registrations(book: Book, members: list[tuple[str, str]]) -> Check:
    """Every registration answered made a member identity shows, that points credited its
    sign-up bonus once and that growth knows."""
    check = Check("identity: registrations (member, sign-up bonus, growth)", "gRPC")
    for phone, member_id in members:
        check.checked += 1
        try:
            await book.read(
                "admin", "identity", "GetMember", ipb.GetMemberRequest(member_id=member_id)
            )
            await book.read(
                "shop",
                "growth",
                "GetMemberGrowth",
                grpb.GetMemberGrowthRequest(member_id=member_id),
            )
            entries = await ledger(book, member_id)
        except grpc.aio.AioRpcError as exc:
            check.problem(f"member {member_id} ({phone}): {exc.code().name} {exc.details()}")
            continue
        bonuses = {e.transaction_id for e in entries if e.rule_code == "sign_up_bonus"}
        if len(bonuses) != 1:
            check.problem(f"member {member_id}: {len(bonuses)} sign-up bonuses")
    return check
