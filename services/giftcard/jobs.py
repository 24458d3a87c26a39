"""Giftcard's scheduled jobs (replica-safe: each takes the kit's job lock).

Each takes `now` so tests (and an operator catching up) can run it for any moment, and each is
idempotent by what it queries: an expired card no longer matches the expiry's query, and a day
with a report is not reported again by the daily job.
"""

from __future__ import annotations

import datetime as dt

import asyncpg

from services.kit import logging
from services.kit.jobs import Job

from .store import pin_locks
from .usecases import GiftcardUseCases

log = logging.get("giftcard.jobs")


async def expire_cards(
    uc: GiftcardUseCases, pool: asyncpg.Pool, now: dt.datetime | None = None
) -> int:
    """Expire every ACTIVE, FROZEN or LOST card past its expire_time (its balance is breakage);
    returns how many expired."""
    return await uc.expiry.expire_due(pool, now)


async def daily_reconciliation(uc: GiftcardUseCases, now: dt.datetime | None = None) -> int:
    """The previous business day's reconciliation report, once per day and currency; returns
    how many reports it wrote (a report with mismatches is logged as an error)."""
    reports = await uc.reconciliation.run_daily(now)
    for report in reports:
        if report.balanced:
            log.info(
                "reconciliation_report",
                business_date=str(report.business_day),
                currency=report.currency_code,
            )
        else:
            log.error(
                "reconciliation_mismatch",
                business_date=str(report.business_day),
                currency=report.currency_code,
                mismatches=len(report.findings),
            )
    return len(reports)


async def expire_holds(uc: GiftcardUseCases, pool: asyncpg.Pool) -> int:
    """Holds past their time go back to their cards and stored value."""
    return await uc.holds.expire_due(pool, uc.deps.settings.job_batch)


async def forget_pin_failures(uc: GiftcardUseCases, pool: asyncpg.Pool) -> int:
    """Wrong-PIN counts nobody added to for a day (their lock, if any, long over)."""
    before = uc.deps.now() - dt.timedelta(days=1)
    async with pool.acquire() as conn:
        return await pin_locks.prune(conn, before, uc.deps.settings.job_batch)


def scheduled(usecases: GiftcardUseCases) -> list[Job]:
    s = usecases.deps.settings
    return [
        Job(
            "giftcard-hold-expiry",
            s.hold_expiry_interval_seconds,
            lambda pool: expire_holds(usecases, pool),
        ),
        Job("giftcard-pin-failures", 3600, lambda pool: forget_pin_failures(usecases, pool)),
        Job(
            "giftcard-card-expiry",
            s.card_expiry_interval_seconds,
            lambda pool: expire_cards(usecases, pool),
        ),
        Job(
            "giftcard-daily-reconciliation",
            s.reconciliation_interval_seconds,
            lambda pool: daily_reconciliation(usecases),
        ),
    ]
