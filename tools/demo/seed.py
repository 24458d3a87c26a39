"""The demo's phases, in the order the story needs them, each waiting until the suite is quiet
before the next (a year of orders earns 1x only if points has applied it before PLUS is bought):

1. members registered by an operator (bulk import), tagged, some verified;
2. their year of orders: paid, completed, refunded, reviewed (past times: the events carry them);
3. PLUS bought at the storefront's cashier, the payment confirmed with its event;
4. gift cards through the back office, sold and bound (cards.py);
5. this hour's orders: 10x for PLUS members, part paid with a card (and points, for the star);
6. the month settled by the operator's `settle`, acting at the next month's first hour;
7. the first renewals charged by `run-jobs` an hour before the periods end, the payment
   provider declining some (the fake one, as `make run` has it, told whom).

What a phase finds done (members tagged, PLUS bought, the month settled, renewals charged) it
does not ask again; everything else replays under the same ids."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from collections.abc import Callable

import grpc

from loyalty.commerce.v1 import events_pb2 as commerce
from loyalty.growth.v1 import growth_admin_service_pb2 as gapb
from loyalty.growth.v1 import resources_pb2 as gres
from loyalty.subscription.v1 import resources_pb2 as sres
from loyalty.subscription.v1 import subscription_admin_service_pb2 as sapb
from loyalty.subscription.v1 import subscription_service_pb2 as spb
from loyalty.type.v1 import money_pb2
from loyalty_storefront import Storefront
from tools.fake_payment_provider import FakePaymentProvider, Rule
from tools.suite import plans

from . import plan
from .cards import Cards
from .commerce import Shop
from .members import Members
from .people import Callers
from .target import Meter, Secrets, Target, call, each, ident, until

PLAN_ID = plans.PLUS_MONTHLY
# The README's plan: 4 free-shipping coupons (worth 6.00 each) a month with it.
PLUS = plans.plus_monthly(
    sres.Benefit(
        benefit_id="free_shipping",
        kind=sres.BENEFIT_KIND_COUPON_PACK,
        display_name="Free shipping",
        quantity=4,
        value=money_pb2.Money(currency_code="CNY", amount_minor=6_00),
        coupon_template_id="tpl-shipping",
    )
)
RENEWAL_LEAD = dt.timedelta(hours=1)  # run-jobs acts this long before the first periods end


class Demo:
    def __init__(
        self,
        target: Target,
        callers: Callers,
        store: Storefront,
        secrets: Secrets,
        seed: int,
        count: int,
        say: Callable[[str], None] = print,
    ) -> None:
        self.target, self.call, self.seed = target, callers, seed
        started = time.monotonic()

        def timed(text: str) -> None:  # each phase with the minutes and seconds it began at
            minutes, seconds = divmod(round(time.monotonic() - started), 60)
            say(f"  {minutes}:{seconds:02d}{text}")

        self.say = timed
        self.people = plan.people(seed, count)
        self.holders = plan.card_holders(seed, self.people)
        self.members = Members(callers, seed, self.people)
        self.shop = Shop(store, callers, seed)
        self.cards = Cards(callers, secrets, seed)
        self.meter = Meter(target.ops)
        self.provider: FakePaymentProvider | None = None
        self.ids: dict[int, str] = {}  # index → member id
        self.timeline: plan.Timeline | None = None
        self.orders: dict[int, list[plan.Order]] = {}

    async def run(self) -> None:
        self.say(f"  {len(self.people):,} members registered by bulk import …")
        registered = await self.members.register()
        self.ids = {index: member.member_id for index, member in registered.items()}
        # The year ends when member 0 registered: the same instant in every run.
        anchor = registered[plan.STAR].create_time.ToDatetime(dt.UTC)
        timeline = self.timeline = plan.Timeline(anchor, self.target.zone)
        await self.meter.quiet("the registrations")
        self.orders = {p.index: plan.history(self.seed, p, timeline) for p in self.people}
        count = sum(map(len, self.orders.values()))
        self.say(f"  the year's orders: {count:,} from {timeline.window_start:%Y-%m-%d} …")
        await each(
            self.people, lambda p: self.shop.orders(self.ids[p.index], self.orders[p.index], {})
        )
        await self.meter.quiet("the year's orders")
        self.say(f"  PLUS bought at the storefront's cashier by {len(self.subscribers()):,} …")
        bought_at = await self.buy_plus()
        await self.meter.quiet("the PLUS purchases")
        self.say(f"  gift cards: a batch of {len(self.holders)} through the back office …")
        cards = await self.cards.issue({i: self.ids[i] for i in self.holders})
        await self.buy_now(bought_at, cards)
        await self.meter.quiet("this hour's orders")
        self.say(f"  the settlement of {timeline.period} …")
        await self.settle()
        await self.meter.quiet("the settlement")
        declined = sum(p.renewal_fails for p in self.subscribers())
        self.say(f"  the first PLUS renewals, {declined:,} declined by the payment provider …")
        await self.renew()
        await self.meter.quiet("the renewals")

    async def close(self) -> None:
        if self.provider is not None:
            await self.provider.stop()
            self.provider = None

    # --- PLUS -------------------------------------------------------------------------------
    def subscribers(self) -> list[plan.Person]:
        return [p for p in self.people if p.plus]

    async def subscription(self, index: int) -> sres.Subscription | None:
        got = await call(
            self.call.subscription.GetMemberSubscription,
            spb.GetMemberSubscriptionRequest(member_id=self.ids[index]),
            self.call.shop,
        )
        return got.subscription if got.HasField("subscription") else None

    async def buy_plus(self) -> dt.datetime:
        """Each subscriber orders PLUS at the storefront's cashier, which confirms the payment
        with its event (the order id is the payment reference). Returns when the last of
        them became active (the instant this hour's orders follow)."""
        try:
            await call(
                self.call.subscription_admin.CreatePlan,
                sapb.CreatePlanRequest(request_id=ident(0, "plan", PLAN_ID), plan=PLUS),
                self.call.admin,
            )
        except grpc.aio.AioRpcError as exc:  # there already (the README's examples make it)
            if exc.code() != grpc.StatusCode.ALREADY_EXISTS:
                raise

        async def buy(person: plan.Person) -> None:
            held = await self.subscription(person.index)
            if held is not None and held.state != sres.SUBSCRIPTION_STATE_PENDING_PAYMENT:
                return  # bought in an earlier run
            ordered = await call(
                self.call.subscription.CreateSubscriptionOrder,
                spb.CreateSubscriptionOrderRequest(
                    request_id=ident(self.seed, "plus-order", person.index),
                    member_id=self.ids[person.index],
                    plan_id=PLAN_ID,
                    collection=sres.PAYMENT_COLLECTION_STOREFRONT,
                ),
                self.call.shop,
            )
            order = ordered.order
            paid = commerce.PaymentSucceeded(
                payment_id=f"demo{self.seed}-plus-{person.index:04d}",
                member_id=self.ids[person.index],
                purpose="subscription",
                reference_id=order.order_id,
                amount=order.amount,
                succeeded_time=order.create_time,
            )
            await self.shop.publish(paid, f"plus-paid:{person.index}")

        await each(self.subscribers(), buy)
        started: list[dt.datetime] = []

        async def active() -> bool:
            held = await each(self.subscribers(), lambda p: self.subscription(p.index))
            started[:] = [
                s.start_time.ToDatetime(dt.UTC) for s in held if s and s.start_time.seconds
            ]
            return len(started) == len(held)

        await until(active, "activate every PLUS purchase")
        return max(started).replace(second=0, microsecond=0) + dt.timedelta(minutes=1)

    async def buy_now(self, at: dt.datetime, cards: dict[int, str]) -> None:
        """This hour's orders: PLUS members' (10x), card holders' (part paid with the card)."""
        holders = set(self.holders)
        for person in self.people:
            if person.plus or person.index in holders:
                recent = plan.recent(self.seed, person, at, person.index in holders)
                self.orders[person.index] += recent
        self.say(f"  this hour's orders, from {at:%Y-%m-%d %H:%M} UTC …")

        async def buy(person: plan.Person) -> None:
            recent = [o for o in self.orders[person.index] if o.recent]
            by_order = {o.order_id: cards[person.index] for o in recent if o.card_minor}
            await self.shop.orders(self.ids[person.index], recent, by_order)

        await each(self.people, buy)

    # --- the operators' commands ------------------------------------------------------------
    async def settle(self) -> None:
        """`python -m services.growth settle` at the next month's first hour: it settles the
        demo's month (unless a run did already)."""
        assert self.timeline is not None
        period = self.timeline.period
        for _ in range(30):
            if await self.settlement_state(period) == gres.SETTLEMENT_STATE_COMPLETED:
                return
            out = await self.target.command("growth", "settle", at=self.timeline.settle_at)
            settled = json.loads(out.strip().splitlines()[-1])
            if not settled["ran"]:  # a serving replica's job held the lock: again, shortly
                await asyncio.sleep(1)
            elif settled["settlement"]["period"] != period:
                raise AssertionError(f"settle settled another month: {settled}")
        raise TimeoutError(f"the settlement of {period} did not complete")

    async def settlement_state(self, period: str) -> int:
        try:
            got = await call(
                self.call.growth_admin.GetSettlement,
                gapb.GetSettlementRequest(period=period),
                self.call.admin,
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                return gres.SETTLEMENT_STATE_UNSPECIFIED
            raise
        return got.settlement.state

    async def renew(self) -> None:
        """`python -m services.subscription run-jobs` an hour before the first periods end
        (every subscriber bought within the run, all within the renewal lead): the renewals
        are charged; the payment provider declines those the plan says."""
        subscribers = self.subscribers()
        failing = frozenset(self.ids[p.index] for p in subscribers if p.renewal_fails)
        self.provider = FakePaymentProvider(
            self.target.storefront_url,
            Rule(fail_members=failing),
            events_exchange=self.target.events_exchange,
            commerce_exchange=self.target.commerce_exchange,
            queue_prefix=self.target.queue_prefix,
        )
        await self.provider.start()
        held = await each(subscribers, lambda p: self.subscription(p.index))
        first_ends = [s.terms[0].end_time.ToDatetime(dt.UTC) for s in held if s and s.terms]

        def charged(sub: sres.Subscription | None) -> bool:
            return sub is None or sub.state != sres.SUBSCRIPTION_STATE_ACTIVE or len(sub.terms) > 1

        if all(map(charged, held)):
            return  # a run charged them already
        at = min(first_ends) - RENEWAL_LEAD
        out = await self.target.command("subscription", "run-jobs", at=at)
        self.say(f"    run-jobs at {at:%Y-%m-%d %H:%M} UTC: {out.strip().splitlines()[-1]}")

        async def answered() -> bool:
            return all(map(charged, await each(subscribers, lambda p: self.subscription(p.index))))

        await until(answered, "apply every renewal's payment")
