"""`python -m tools.chaos`: see the package's docstring. Settings (environment):

CHAOS_SECONDS         how long the load and the faults last (120)
CHAOS_SEED            the faults' schedule and the clients' choices (random; printed)
CHAOS_PG_PORT         the private PostgreSQL's port (55433)
CHAOS_AMQP_PORT       the private RabbitMQ's port (55673; its distribution port 45673)
CHAOS_SETTLE_SECONDS  how long the suite may take to settle after the load (180)
CHAOS_KEEP            1: leave the servers and logs in .local/chaos/ for a look
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import random
import sys
import time
from collections import Counter

from loyalty.giftcard.v1 import wallet_service_pb2 as wpb
from loyalty_storefront import Storefront
from tools.suite.callers import Callers

from . import checks_api, checks_bus, checks_events, faults, report, setup
from .book import Book
from .load_others import (
    Card,
    GiftcardLoad,
    IdentityLoad,
    PhoneBook,
    Subscriber,
    SubscriptionLoad,
    loop,
)
from .load_points import Account, PointsLoad, StorefrontLoad, adjust
from .servers import ROOT, Servers
from .suite import Suite

# Members per client: points (two clients), storefront, gift cards (the payers), memberships.
POINTS_MEMBERS, SHOP_MEMBERS, CARD_MEMBERS, SUBSCRIBERS, CARDS = 8, 6, 3, 10, 12
GRACE_SECONDS = 120  # after the load, how long a client may still ask for its answer


STARTED = time.monotonic()


def say(text: str) -> None:
    print(f"chaos [{time.monotonic() - STARTED:5.0f} s] {text}", flush=True)


class Run:
    def __init__(self) -> None:
        self.seconds = float(os.environ.get("CHAOS_SECONDS", "120"))
        self.seed = int(os.environ.get("CHAOS_SEED") or random.randrange(1, 10**6))
        self.settle_seconds = float(os.environ.get("CHAOS_SETTLE_SECONDS", "180"))
        self.rng = random.Random(self.seed)
        self.servers = Servers(
            ROOT / ".local" / "chaos",
            int(os.environ.get("CHAOS_PG_PORT", "55433")),
            int(os.environ.get("CHAOS_AMQP_PORT", "55673")),
        )
        self.suite = Suite(self.servers)

    async def main(self) -> int:
        say(f"seed {self.seed}, {self.seconds:.0f} s of load (CHAOS_SEED, CHAOS_SECONDS)")
        say(
            f"private servers: PostgreSQL :{self.servers.pg_port}, RabbitMQ :{self.servers.amqp_port}"
        )
        callers: Callers | None = None
        storefront: Storefront | None = None
        try:
            await self.servers.start()
            await self.suite.start()
            say(
                "suite started: " + ", ".join(f"{n} {self.suite.grpc(n)}" for n in self.suite.ports)
            )
            await checks_bus.bind_tap(self.suite)
            # "anyone": no token (a shopper registering). The set-up's calls are asked again
            # while the suite is away, as the load's are.
            self.book = Book({}, {"anyone": ()}, rng=random.Random(self.seed + 1))
            self.callers = callers = Callers(self.suite.grpc, invoke=self.book.ask)
            self.book.stubs = callers.by_name()
            storefront = await Storefront.connect(
                self.suite.storefront_url, source="/storefront/chaos"
            )
            self.book.storefront = storefront
            await self.prepare()
            faults_done = await self.load()
            checks = await self.check()
        finally:
            if callers is not None:
                await callers.close()
            if storefront is not None:
                await storefront.close()
            await self.suite.stop()
            if os.environ.get("CHAOS_KEEP") == "1":
                say(
                    f"kept: servers and logs in {self.servers.state}; the next run removes them,"
                    f" or stop them: LOYALTY_STATE_DIR={self.servers.state} deploy/local/stop.sh"
                )
            else:
                await self.servers.remove()
        print()
        print(report.faults_table(faults_done))
        print()
        print(report.load_table(self.counts, self.book.retried, self.book.unexpected))
        print()
        print(report.checks_table(checks))
        failed = [c for c in checks if not c.ok]
        print()
        say(
            f"seed {self.seed}: "
            + (
                "FAILED: " + ", ".join(c.name for c in failed)
                if failed
                else "nothing lost, nothing twice"
            )
        )
        return 1 if failed else 0

    async def prepare(self) -> None:
        book = self.book
        await setup.sign_in(self.suite, self.callers, book)
        await setup.plan(book)
        self.phones = PhoneBook()
        count = POINTS_MEMBERS + SHOP_MEMBERS + CARD_MEMBERS + SUBSCRIBERS
        gate = asyncio.Semaphore(4)

        async def one() -> tuple[str, str]:
            async with gate:
                phone = self.phones.next()
                return phone, await setup.register(book, self.suite.codes_dir, phone)

        self.registered = list(await asyncio.gather(*(one() for _ in range(count))))
        ids = [m for _, m in self.registered]
        await setup.known(book, ids)
        p, ids = ids[:POINTS_MEMBERS], ids[POINTS_MEMBERS:]
        s, ids = ids[:SHOP_MEMBERS], ids[SHOP_MEMBERS:]
        g, u = ids[:CARD_MEMBERS], ids[CARD_MEMBERS:]
        self.points_accounts = [Account(m) for m in p]
        self.shop_accounts = [Account(m) for m in s]
        for account in self.shop_accounts:  # something to pay with
            await adjust(book, account, 5_000)
        self.card_members = g
        self.subscribers = [Subscriber(m) for m in u]
        self.cards = [Card(n, pin) for n, pin in await setup.sold_cards(self.callers, CARDS)]
        for card in self.cards:
            got = await book.read(
                "shop", "wallet", "CheckCardBalance", wpb.CheckCardBalanceRequest(card=card.secret)
            )
            card.card_id = got.card.card_id
        book.acks.clear()  # what the load acknowledged is replayed, not the set-up's
        say(f"set up: {count} members, {CARDS} cards, a plan")

    async def load(self) -> list[faults.Fault]:
        book, rng = self.book, self.rng
        half = POINTS_MEMBERS // 2
        self.giftcards = GiftcardLoad(
            book, self.cards, self.card_members, random.Random(rng.random())
        )
        self.identities = IdentityLoad(book, self.suite.codes_dir, self.phones)
        subscriptions = SubscriptionLoad(book, self.subscribers, random.Random(rng.random()))
        stop = asyncio.Event()
        clients = [
            PointsLoad(book, self.points_accounts[:half], random.Random(rng.random())).run(stop),
            PointsLoad(book, self.points_accounts[half:], random.Random(rng.random())).run(stop),
            StorefrontLoad(book, self.shop_accounts, random.Random(rng.random())).run(stop),
            loop(book, stop, self.giftcards.step, (0.05, 0.15)),
            loop(book, stop, subscriptions.step, (0.05, 0.2)),
            loop(book, stop, self.identities.step, (0.1, 0.3)),
        ]
        schedule = faults.schedule(rng, self.seconds)
        self.since = dt.datetime.now(dt.UTC)
        began = time.monotonic()
        say(f"load for {self.seconds:.0f} s with {len(schedule)} faults")
        tasks = [asyncio.create_task(c) for c in clients]
        inflicting = asyncio.create_task(faults.inflict(self.suite, schedule, rng, began))
        await asyncio.sleep(self.seconds)
        stop.set()
        book.deadline = time.monotonic() + GRACE_SECONDS
        await inflicting
        await asyncio.gather(*tasks)
        self.counts = {
            "requests acknowledged": len(book.acks),
            "storefront events confirmed": len(book.published),
        }
        say(f"load done: {len(book.acks)} requests and {len(book.published)} events acknowledged")
        return schedule

    async def check(self) -> list[report.Check]:
        book, suite = self.book, self.suite
        checks: list[report.Check] = []
        calm = report.Check(
            "suite settled (outboxes published, queues drained)", "databases + broker"
        )
        done, waited = await checks_bus.settled(suite, self.settle_seconds)
        calm.checked = 1
        if not done:
            calm.problem(f"not settled within {self.settle_seconds:.0f} s")
        say(f"settled in {waited:.0f} s; replaying every acknowledged request and event")
        book.deadline = time.monotonic() + GRACE_SECONDS
        checks.append(calm)
        checks.append(await checks_bus.replays(book))
        await checks_bus.republish(book)
        await checks_bus.settled(suite, self.settle_seconds)
        book.deadline = time.monotonic() + GRACE_SECONDS
        say("checking")
        accounts = self.points_accounts + self.shop_accounts
        orders = [o for a in self.shop_accounts for o in a.orders.values()]
        facts: dict[str, list[str]] = {}
        for o in orders:
            facts.setdefault(o.member_id, []).append(o.order_id)
        for member, order_id in self.giftcards.orders:
            facts.setdefault(member, []).append(order_id)
        reviews = {a.member_id: a.reviews for a in self.shop_accounts if a.reviews}
        members = self.registered + self.identities.members
        checks += [
            await checks_api.points_accounts(
                book, self.points_accounts, "members spending over gRPC"
            ),
            await checks_api.points_accounts(book, self.shop_accounts, "the storefront's members"),
            await checks_api.storefront_orders(book, orders),
            await checks_api.growth_facts(book, facts, reviews),
            await checks_api.cards(book, self.cards),
            await checks_api.subscriptions(book, self.subscribers),
            await checks_api.registrations(book, members),
        ]
        rows = await checks_bus.outboxes(suite)
        tap = await checks_bus.drain_tap(suite)
        found = checks_bus.Events(rows)
        checks += checks_bus.published_and_delivered(rows, tap)
        checks += [
            checks_events.points(found, accounts),
            checks_events.registrations(found, [m for _, m in members]),
            checks_events.cards(found, self.cards),
            await checks_events.terms(book, found, self.subscribers),
            await checks_bus.dead_letters(suite),
            *await checks_bus.reconciliations(suite, self.since),
            self.unanswered(),
        ]
        redelivered = sum(n - 1 for n in tap.values() if n > 1)
        self.counts["events delivered to the tap (distinct)"] = len(tap)
        self.counts["  of them delivered more than once"] = redelivered
        return checks

    def unanswered(self) -> report.Check:
        """Requests never answered and processes that ended by themselves: nothing can be said
        of what those did, which is itself a finding."""
        check = report.Check("every request answered, no process died by itself", "clients")
        check.checked = len(self.book.acks) + len(self.suite.processes)
        if self.book.gave_up:
            check.problem(
                f"{self.book.gave_up} requests or events unanswered {GRACE_SECONDS} s after the load"
            )
        for name, code in self.suite.exited():
            check.problem(
                f"{name} ended by itself (exit code {code}):\n{self.suite.log_tail(name, 10)}"
            )
        unexpected = Counter(self.book.unexpected)
        for text, n in unexpected.items():
            check.problem(f"refused {n}x though the client's model allows it: {text}")
        return check


def main() -> None:
    # The broker's restarts are the point: the AMQP clients' reconnection stories are not.
    for name in ("aio_pika", "aiormq"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    try:
        sys.exit(asyncio.run(Run().main()))
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
