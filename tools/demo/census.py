"""What the API reports about the demo's data set, member by member: compared before and after a
run, it shows what the run changed (nothing, the second time). Each figure is read where a
duplicate effect would show: ledger entries and balances in points, facts, scores and tiers in
growth, terms and orders in subscription, card entries and balances in giftcard."""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

from loyalty.giftcard.v1 import wallet_service_pb2 as wpb
from loyalty.growth.v1 import growth_service_pb2 as gpb
from loyalty.growth.v1 import resources_pb2 as gres
from loyalty.points.v1 import points_service_pb2 as ppb
from loyalty.subscription.v1 import resources_pb2 as sres
from loyalty.subscription.v1 import subscription_service_pb2 as spb

from .members import Members
from .people import MANAGER, Callers
from .plan import Person
from .target import Metadata, call, each

# The figures, in the order they are printed, with their labels.
LABELS = {
    "members": "members",
    "verified": "verified",
    "ledger_entries": "points ledger entries",
    "available": "points available",
    "pending": "points pending",
    "held": "points held",
    "facts": "growth facts",
    "score": "growth scores (sum)",
    "settled": "members settled",
    **{
        f"tier_{t.lower()}": f"tier {t.lower()}"
        for t in ("REGISTERED", "BRONZE", "SILVER", "GOLD", "DIAMOND")
    },
    "plus_active": "PLUS active",
    "plus_grace": "PLUS in grace",
    "plus_terms": "PLUS terms",
    "plus_orders": "PLUS orders",
    "cards": "gift cards bound",
    "card_balance": "gift card balances (fen)",
    "card_entries": "gift card entries",
}


async def count(
    method: Callable[..., Awaitable[Any]], request: Any, field: str, md: Metadata
) -> int:
    """Items of every page of a list call."""
    total = 0
    while True:
        page = await call(method, request, md)
        total += len(getattr(page, field))
        if not page.next_page_token:
            return total
        request.page_token = page.next_page_token


async def census(
    callers: Callers, seed: int, people: list[Person], holders: list[int]
) -> dict[str, int]:
    """The figures of the seed's members (those registered so far)."""
    figures: Counter[str] = Counter({name: 0 for name in LABELS})
    members = await Members(callers, seed, people).listed()
    figures["members"] = len(members)
    figures["verified"] = sum(m.verified for m in members.values())
    shop = callers.shop

    async def member(index: int) -> None:
        member_id = members[index].member_id
        balance = (
            await call(callers.points.GetBalance, ppb.GetBalanceRequest(member_id=member_id), shop)
        ).balance
        figures.update(available=balance.available, pending=balance.pending, held=balance.held)
        entries = ppb.ListLedgerEntriesRequest(member_id=member_id, page_size=500)
        # Counted first, added after: `figures[x] += await …` would read x before the await,
        # and lose what the other members added meanwhile.
        ledger_entries = await count(callers.points.ListLedgerEntries, entries, "entries", shop)
        figures["ledger_entries"] += ledger_entries
        growth = (
            await call(
                callers.growth.GetMemberGrowth,
                gpb.GetMemberGrowthRequest(member_id=member_id),
                shop,
            )
        ).growth
        figures["score"] += growth.score
        figures["settled"] += bool(growth.period)
        figures[f"tier_{gres.Tier.Name(growth.tier).removeprefix('TIER_').lower()}"] += 1
        facts = gpb.ListMemberFactsRequest(member_id=member_id, page_size=500)
        facts_count = await count(callers.growth.ListMemberFacts, facts, "facts", shop)
        figures["facts"] += facts_count
        await plus(member_id)
        if index in holders:
            await cards(member_id)

    async def plus(member_id: str) -> None:
        got = await call(
            callers.subscription.GetMemberSubscription,
            spb.GetMemberSubscriptionRequest(member_id=member_id),
            shop,
        )
        if not got.HasField("subscription"):
            return
        sub = got.subscription
        figures["plus_active"] += sub.state == sres.SUBSCRIPTION_STATE_ACTIVE
        figures["plus_grace"] += sub.state == sres.SUBSCRIPTION_STATE_GRACE
        figures["plus_terms"] += len(sub.terms)
        orders = spb.ListSubscriptionOrdersRequest(member_id=member_id, page_size=500)
        orders_count = await count(
            callers.subscription.ListSubscriptionOrders, orders, "orders", shop
        )
        figures["plus_orders"] += orders_count

    async def cards(member_id: str) -> None:
        listed = await call(
            callers.wallet.ListMemberCards, wpb.ListMemberCardsRequest(member_id=member_id), shop
        )
        for card in listed.cards:
            figures["cards"] += 1
            figures["card_balance"] += card.balance_minor
            entries = wpb.ListCardEntriesRequest(card_id=card.card_id, page_size=500)
            entries_count = await count(
                callers.wallet.ListCardEntries, entries, "entries", callers.as_(MANAGER)
            )
            figures["card_entries"] += entries_count

    await each(sorted(members), member)
    return dict(figures)


def table(before: dict[str, int], after: dict[str, int]) -> str:
    """The figures before and after a run, side by side, and what changed."""
    rows = [f"    {'':<26}{'before':>14}{'after':>14}"]
    for name, label in LABELS.items():
        old, new = before.get(name, 0), after.get(name, 0)
        change = f"  {new - old:+,}" if new != old else ""
        rows.append(f"    {label:<26}{old:>14,}{new:>14,}{change}")
    return "\n".join(rows)
