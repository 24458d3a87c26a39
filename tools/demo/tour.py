"""The tour: three members worth a look and the operators' view, as `buf curl` lines ready to
paste (written as the README's examples are), each followed by what it shows, read from the API
at the end of the run."""

from __future__ import annotations

import contextlib
import datetime as dt
from pathlib import Path

from loyalty.giftcard.v1 import giftcard_service_pb2 as gcpb
from loyalty.giftcard.v1 import resources_pb2 as gcres
from loyalty.giftcard.v1 import wallet_service_pb2 as wpb
from loyalty.growth.v1 import growth_admin_service_pb2 as gapb
from loyalty.growth.v1 import growth_service_pb2 as gpb
from loyalty.growth.v1 import resources_pb2 as gres
from loyalty.identity.v1 import identity_service_pb2 as ipb
from loyalty.points.v1 import points_service_pb2 as ppb
from loyalty.points.v1 import resources_pb2 as pres
from loyalty.subscription.v1 import resources_pb2 as sres
from loyalty.subscription.v1 import subscription_service_pb2 as spb

from . import plan
from .people import ADMIN_ID, MANAGER, SHOP, Callers
from .target import Metadata, call

ROOT = Path(__file__).resolve().parents[2]
SERVICES = {
    "identity": "loyalty.identity.v1.IdentityService",
    "points": "loyalty.points.v1.PointsService",
    "growth": "loyalty.growth.v1.GrowthService",
    "growth_admin": "loyalty.growth.v1.GrowthAdminService",
    "subscription": "loyalty.subscription.v1.SubscriptionService",
    "giftcard": "loyalty.giftcard.v1.GiftcardService",
    "wallet": "loyalty.giftcard.v1.WalletService",
}
PICK = """pick() { python3 -c 'import json, sys
d = json.load(sys.stdin)
for key in sys.argv[1:]: d = d[int(key)] if isinstance(d, list) else d[key]
print(d)' "$@"; }"""


def cny(minor: int) -> str:
    return f"{minor / 100:,.2f} CNY"


def day(stamp) -> str:
    return stamp.ToDatetime(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def name(enum, value: int, prefix: str) -> str:
    return enum.Name(value).removeprefix(prefix)


class Tour:
    def __init__(self, callers: Callers, grpc: dict[str, str], secrets_file: Path) -> None:
        self.call = callers
        self.grpc = grpc
        self.secrets_file = secrets_file
        self.lines: list[str] = []

    def url(self, service: str, method: str) -> str:
        host = self.grpc["giftcard" if service == "wallet" else service.removesuffix("_admin")]
        return f"http://{host}/{SERVICES[service]}/{method}"

    def curl(self, who: str, body: str, service: str, method: str, *shows: str) -> None:
        header = f'-H "${who}" ' if who else ""
        self.lines.append(f"$BUF {header}-d '{body}' \\\n  {self.url(service, method)}")
        self.lines.extend(f"#   → {show}" for show in shows)

    def say(self, *text: str) -> None:
        self.lines.extend(text)

    async def write(
        self, people: list[plan.Person], ids: dict[int, str], orders, period: str
    ) -> str:
        """The tour's text for the run's members (`orders`: theirs, by index)."""
        star, grace, newcomer = (people[i] for i in (plan.STAR, plan.GRACE, plan.NEWCOMER))
        secrets = self.secrets_file
        with contextlib.suppress(ValueError):  # the lines are pasted at the top of the checkout
            secrets = secrets.relative_to(ROOT)
        admin = self.call.secrets.data["clients"][ADMIN_ID]
        self.say(
            'BUF="npx buf curl --protocol grpc --http2-prior-knowledge"',
            PICK,
            "# an operator's token from its secret, which the demo keeps in the file below",
            f"secret() {{ python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[\"clients\"][sys.argv[2]])' \\\n"
            f'  {secrets} "$1"; }}',
            'token() { $BUF -d \'{"clientId":"\'"$1"\'","clientSecret":"\'"$(secret "$1")"\'"}\' \\\n'
            f"  {self.url('identity', 'IssueClientToken')} | pick accessToken; }}",
            f'ADMIN="authorization: Bearer $(token {admin})"   # the operators\' administrator',
            f'SHOP="authorization: Bearer $(token {SHOP})"     # the storefront\'s backend',
            f'MIA="authorization: Bearer $(token {MANAGER})"     # the gift-card manager',
            "# the member signs in (a password only the tour's members have)",
            f'LEI="authorization: Bearer $($BUF -d \'{{"identifier":"{star.phone}","password":"{star.password}"}}\' \\',
            f'  {self.url("identity", "Login")} | pick tokens accessToken)"',
            "",
        )
        await self._star(star, ids[star.index], [o for o in orders[star.index] if o.recent])
        await self._grace(grace, ids[grace.index])
        await self._newcomer(newcomer, ids[newcomer.index], star)
        await self._operators(period)
        return "\n".join(self.lines)

    async def _star(self, person: plan.Person, member_id: str, recent: list[plan.Order]) -> None:
        c, checkout = self.call, recent[0].order_id
        growth = (
            await self.get(
                c.growth.GetMemberGrowth, gpb.GetMemberGrowthRequest(member_id=member_id)
            )
        ).growth
        explained = (
            await self.get(
                c.growth.ExplainScore,
                gpb.ExplainScoreRequest(member_id=member_id, provisional=True),
            )
        ).explanation
        parts = ", ".join(
            f"{name(gres.Component, part.component, 'COMPONENT_').lower()} {part.value:,}"
            for part in explained.components
            if part.value
        )
        balance = (
            await self.get(c.points.GetBalance, ppb.GetBalanceRequest(member_id=member_id))
        ).balance
        order = (await self.get(c.points.GetOrder, ppb.GetOrderRequest(order_id=checkout))).order
        cards = (
            await self.get(
                c.wallet.ListMemberCards, wpb.ListMemberCardsRequest(member_id=member_id)
            )
        ).cards
        sub = (
            await self.get(
                c.subscription.GetMemberSubscription,
                spb.GetMemberSubscriptionRequest(member_id=member_id),
            )
        ).subscription
        body = f'{{"memberId":"{member_id}"}}'
        self.say(
            f"# 1. {person.nickname} ({member_id}): a big spender of the year, PLUS, a gift card;",
            "#    this hour's order paid with 2,000 points, 150 CNY on the card and the rest",
        )
        self.curl(
            "LEI",
            body,
            "growth",
            "GetMemberGrowth",
            f"tier {name(gres.Tier, growth.tier, 'TIER_')}, score {growth.score:,} settled for "
            f"{growth.period}, {len(growth.badges)} category badges, {len(growth.benefits)} benefits",
        )
        self.curl(
            "LEI",
            f'{{"memberId":"{member_id}","provisional":true}}',
            "growth",
            "ExplainScore",
            f"the score now, {explained.score:,}: {parts}; each with its parts and facts",
        )
        self.curl(
            "LEI",
            body,
            "points",
            "GetBalance",
            f"available {balance.available:,}, pending {balance.pending:,} (the rebates of orders "
            "not completed yet: this hour's at 10x)",
        )
        self.curl(
            "LEI",
            f'{{"memberId":"{member_id}","pageSize":20}}',
            "points",
            "ListLedgerEntries",
            "the ledger, newest first: the tiers' gift packs, rebates, the checkout's capture",
        )
        self.curl(
            "SHOP",
            f'{{"orderId":"{checkout}"}}',
            "points",
            "GetOrder",
            f"{order.payment.points_captured:,} points captured; rebate {order.rebate.points:,} "
            f"({name(pres.RebateState, order.rebate.state, 'REBATE_STATE_')}, multiplier "
            f"{order.rebate.multiplier})",
        )
        for card in cards[:1]:
            self.curl(
                "LEI",
                body,
                "wallet",
                "ListMemberCards",
                f"card {card.masked_card_number}: {cny(card.balance_minor)} left of "
                f"{cny(card.face_value_minor)}",
            )
        self.curl(
            "LEI",
            body,
            "subscription",
            "GetMemberSubscription",
            f"{name(sres.SubscriptionState, sub.state, 'SUBSCRIPTION_STATE_')} until "
            f"{day(sub.period_end)}, {len(sub.terms)} terms (bought, then renewed)",
        )
        self.say("")

    async def _grace(self, person: plan.Person, member_id: str) -> None:
        c = self.call
        sub = (
            await self.get(
                c.subscription.GetMemberSubscription,
                spb.GetMemberSubscriptionRequest(member_id=member_id),
            )
        ).subscription
        benefits = (
            await self.get(
                c.subscription.GetMemberBenefits, spb.GetMemberBenefitsRequest(member_id=member_id)
            )
        ).benefits
        body = f'{{"memberId":"{member_id}"}}'
        self.say(
            f"# 2. {person.nickname} ({member_id}): PLUS too, but the provider declined the renewal"
        )
        self.curl(
            "SHOP",
            body,
            "subscription",
            "GetMemberSubscription",
            f"{name(sres.SubscriptionState, sub.state, 'SUBSCRIPTION_STATE_')} until "
            f"{day(sub.grace_until)} (the charge is retried daily meanwhile)",
        )
        self.curl(
            "SHOP",
            body,
            "subscription",
            "GetMemberBenefits",
            f"still {benefits.points_multiplier}x points and "
            f"{benefits.member_discount_bps / 100:g}% off during grace",
        )
        self.say("")

    async def _newcomer(self, person: plan.Person, member_id: str, referrer: plan.Person) -> None:
        c = self.call
        member = (
            await self.get(c.identity.GetMember, ipb.GetMemberRequest(member_id=member_id), c.admin)
        ).member
        balance = (
            await self.get(c.points.GetBalance, ppb.GetBalanceRequest(member_id=member_id))
        ).balance
        growth = (
            await self.get(
                c.growth.GetMemberGrowth, gpb.GetMemberGrowthRequest(member_id=member_id)
            )
        ).growth
        body = f'{{"memberId":"{member_id}"}}'
        self.say(
            f"# 3. {person.nickname} ({member_id}): a newcomer {referrer.nickname} referred, one order so far"
        )
        self.curl(
            "ADMIN",
            body,
            "identity",
            "GetMember",
            f"referredBy {member.referred_by} ({referrer.nickname})",
        )
        self.curl(
            "SHOP",
            body,
            "points",
            "GetBalance",
            f"available {balance.available:,}: the sign-up bonus, the order's rebate and its photo "
            "review (the referrer got 500 when the order completed)",
        )
        self.curl(
            "SHOP",
            body,
            "growth",
            "GetMemberGrowth",
            f"tier {name(gres.Tier, growth.tier, 'TIER_')}, score {growth.score:,}: "
            f"{growth.next_tier_min_score - growth.score:,} short of "
            f"{name(gres.Tier, growth.next_tier, 'TIER_')}",
        )
        self.say("")

    async def _operators(self, period: str) -> None:
        c = self.call
        request = gapb.GetSettlementRequest(period=period)
        settlement = (await self.get(c.growth_admin.GetSettlement, request, c.admin)).settlement
        tiers = ", ".join(
            f"{name(gres.Tier, t.tier, 'TIER_').lower()} {t.members:,}" for t in settlement.tiers
        )
        stock = (await self.get(c.giftcard.GetStock, gcpb.GetStockRequest(), c.as_(MANAGER))).lines
        states = ", ".join(
            f"{name(gcres.CardState, line.state, 'CARD_STATE_').lower()} {line.card_count:,}"
            for line in stock
        )
        self.say("# 4. The operators' view")
        self.curl(
            "ADMIN",
            f'{{"period":"{period}"}}',
            "growth_admin",
            "GetSettlement",
            f"{settlement.settled_count:,} members settled: {tiers}; "
            f"{settlement.badges_awarded:,} badges",
        )
        self.curl("MIA", "{}", "giftcard", "GetStock", f"cards by state: {states}")

    async def get(self, method, request, metadata: Metadata | None = None):
        """A read, as the storefront's backend unless `metadata` says otherwise."""
        return await call(method, request, metadata or self.call.shop)
