"""Subscription's scheduled jobs (replica-safe: each takes the kit's job lock, and each locks
what it takes with SKIP LOCKED, so two runs at once still charge and move each subscription
once).

Each takes `now` so tests (and an operator catching up: `run-jobs`) can run it for any moment,
and each is idempotent by what it queries: a charge counted is not due again until its retry,
a subscription moved no longer matches the clock's query.
"""

from __future__ import annotations

import datetime as dt

import asyncpg

from services.kit.jobs import Job

from .usecases import SubscriptionUseCases, term_starts


async def request_renewals(
    uc: SubscriptionUseCases, pool: asyncpg.Pool, now: dt.datetime | None = None
) -> int:
    """Request the renewal charges due (first charges a lead before the period end, retries);
    returns how many."""
    return await uc.renewals.request_due(pool, now)


async def apply_clock(
    uc: SubscriptionUseCases, pool: asyncpg.Pool, now: dt.datetime | None = None
) -> int:
    """What time alone does: grace when a period ended unpaid, expiry, first orders abandoned,
    orders lapsed; returns how many subscriptions and orders changed."""
    return await uc.renewals.on_clock(pool, now)


async def begin_terms(
    uc: SubscriptionUseCases, pool: asyncpg.Pool, now: dt.datetime | None = None
) -> int:
    """Stacked terms whose start has come begin, the plan in effect changing with them
    (subscription.plan_changed); returns how many began."""
    return await term_starts.begin_due(uc.deps, pool, now or uc.deps.now())


async def lapse_perk_codes(uc: SubscriptionUseCases, pool: asyncpg.Pool) -> int:
    """Partner codes past their expiry counted out of their pools (and the low-stock warning
    given when that drops a pool's level); every pool's gauge refreshed."""
    return await uc.perks.lapse(pool)


def scheduled(usecases: SubscriptionUseCases) -> list[Job]:
    s = usecases.deps.settings
    return [
        Job(
            "subscription-renewals",
            s.renewal_interval_seconds,
            lambda pool: request_renewals(usecases, pool),
        ),
        Job(
            "subscription-clock", s.clock_interval_seconds, lambda pool: apply_clock(usecases, pool)
        ),
        Job(
            "subscription-term-starts",
            s.clock_interval_seconds,
            lambda pool: begin_terms(usecases, pool),
        ),
        Job(
            "subscription-perk-lapse",
            s.perk_lapse_interval_seconds,
            lambda pool: lapse_perk_codes(usecases, pool),
        ),
    ]
