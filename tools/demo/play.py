"""One run of the demo against a suite: what the API reports before, the phases, what it reports
after, and the tour. `python -m tools.demo` runs it against `make run`'s services; the test
against its own."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from loyalty_storefront import Storefront

from . import plan
from .census import census, table
from .people import Callers
from .seed import Demo
from .target import Meter, Secrets, Target
from .tour import Tour

SOURCE = "/storefront/demo"


@dataclass
class Outcome:
    before: dict[str, int]
    after: dict[str, int]
    tour: str
    ids: dict[int, str]  # the members' ids by index
    orders: dict[int, list[plan.Order]]  # their orders by index
    dead_lettered: int  # events the services dead-lettered during the run


async def play(
    target: Target,
    seed: int,
    count: int,
    say: Callable[[str], None] = print,
    keep: Callable[[], Awaitable[None]] | None = None,
) -> Outcome:
    """Seed the data set (or find it seeded) and print the census and the tour; `keep` is
    awaited before the demo's connections and its payment provider close."""
    started = time.monotonic()
    secrets = Secrets(target.secrets_file)
    meter = Meter(target.ops)
    dead = (await meter.totals(["events_dead_lettered_total"]))["events_dead_lettered_total"]
    async with contextlib.AsyncExitStack() as stack:
        callers = await stack.enter_async_context(Callers(target, secrets))
        store = await stack.enter_async_context(
            await Storefront.connect(
                target.storefront_url,
                source=SOURCE,
                commerce_exchange=target.commerce_exchange,
                events_exchange=target.events_exchange,
                queue_prefix=target.queue_prefix,
            )
        )
        demo = Demo(target, callers, store, secrets, seed, count, say)
        stack.push_async_callback(demo.close)
        before = await census(callers, seed, demo.people, demo.holders)
        say(f"  what the API reports now: {before['members']:,} members of seed {seed}")
        await demo.run()
        after = await census(callers, seed, demo.people, demo.holders)
        assert demo.timeline is not None
        tour = await Tour(callers, target.grpc, target.secrets_file).write(
            demo.people, demo.ids, demo.orders, demo.timeline.period
        )
        dead = (await meter.totals(["events_dead_lettered_total"]))[
            "events_dead_lettered_total"
        ] - dead
        minutes, seconds = divmod(round(time.monotonic() - started), 60)
        say(f"  done in {minutes} min {seconds:02d} s; events dead-lettered meanwhile: {dead:.0f}")
        say("")
        say("What the API reports about the data set, before and after this run:")
        say(table(before, after))
        if after["settled"] < after["members"]:
            say(
                f"  {after['members'] - after['settled']:,} members registered after the settlement "
                f"of {demo.timeline.period} had completed (a smaller DEMO_MEMBERS, or another "
                "DEMO_SEED, ran this month): the next month's settlement takes them"
            )
        if before == after:
            say("  nothing changed: the data set was there already, every mutation a replay")
        say("")
        say("The tour: paste these lines into a shell at the top of the checkout.")
        say("")
        say(tour)
        if keep is not None:
            await keep()
        return Outcome(before, after, tour, demo.ids, demo.orders, int(dead))
