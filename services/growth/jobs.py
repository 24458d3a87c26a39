"""Growth's scheduled job: the monthly settlement (replica-safe: the kit's job lock lets one
replica run it; each member is settled once whatever runs, see usecases/settlements.py).

It runs every minute and settles the due period (the previous business month, from the 1st at
00:00) unless completed: a run stopped by a crash or a deploy is resumed by the next tick."""

from __future__ import annotations

import asyncpg

from services.kit.jobs import Job

from .usecases import GrowthUseCases

SETTLEMENT_JOB = "growth-settlement"


async def settle_due(uc: GrowthUseCases, pool: asyncpg.Pool) -> int:
    """Settle (or resume) the due period; returns the members settled in it so far."""
    row = await uc.settlements.run(pool)
    return int(row["members_settled"])


def settlement_job(usecases: GrowthUseCases) -> Job:
    return Job(
        SETTLEMENT_JOB,
        usecases.deps.settings.settlement_interval_seconds,
        lambda pool: settle_due(usecases, pool),
    )


def scheduled(usecases: GrowthUseCases) -> list[Job]:
    return [settlement_job(usecases)]
