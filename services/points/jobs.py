"""Scheduled work: lot expiry, hold timeouts, expiring-soon notices, parked events whose member
never came.

Each job takes `now` so tests (and an operator catching up) can run it for any moment. All
four are idempotent: what they change no longer matches their query afterwards, so a second
run, or a run overlapping another replica's, finds nothing left to do. Work is done one member
(or hold) per transaction, under the member's lock, in bounded batches.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import asyncpg

from services.kit import db, logging
from services.kit.jobs import Job

from .usecases import PointsUseCases

log = logging.get("points.jobs")
T = TypeVar("T")


async def _one_by_one(
    pool: asyncpg.Pool,
    batch: int,
    find: Callable[[asyncpg.Connection, int], Awaitable[Sequence[T]]],
    apply: Callable[[asyncpg.Connection, T], Awaitable[int]],
) -> int:
    """`apply` to each item `find` returns, one transaction each, until a batch comes back short;
    returns the sum of what `apply` returned."""
    done = 0
    while True:
        async with pool.acquire() as conn:
            due = await find(conn, batch)
        for item in due:
            async with db.transaction(pool) as conn:
                done += await apply(conn, item)
        if len(due) < batch:
            return done


async def _until_none_left(
    pool: asyncpg.Pool, step: Callable[[asyncpg.Connection], Awaitable[int]]
) -> int:
    """Run `step` (a bounded batch) in a transaction of its own until it finds nothing left to
    do; returns the sum of what it did."""
    done = 0
    while True:
        async with db.transaction(pool) as conn:
            did = await step(conn)
        if not did:
            return done
        done += did


async def expire_lots(
    uc: PointsUseCases, pool: asyncpg.Pool, now: dt.datetime | None = None
) -> int:
    """Post the expiry of every lot past its date; returns the points expired."""
    now = now or uc.deps.now()
    total = await _one_by_one(
        pool,
        uc.settings.job_batch,
        lambda conn, batch: uc.expiry.members_with_expired_lots(conn, now, batch),
        lambda conn, member_id: uc.expiry.expire(conn, member_id, now),
    )
    if total:
        log.info("points_expired", points=total)
    return total


async def release_timed_out_holds(
    uc: PointsUseCases, pool: asyncpg.Pool, now: dt.datetime | None = None
) -> int:
    """Release every hold still held past its expiry; returns how many were released."""
    now = now or uc.deps.now()
    released = await _one_by_one(
        pool,
        uc.settings.job_batch,
        lambda conn, batch: uc.expiry.timed_out_holds(conn, now, batch),
        uc.expiry.time_out,
    )
    if released:
        log.info("holds_timed_out", count=released)
    return released


async def notify_expiring(
    uc: PointsUseCases, pool: asyncpg.Pool, now: dt.datetime | None = None
) -> int:
    """Publish points.expiring for lots expiring within the notice window, once per lot.

    Lots of one member expiring at the same moment (one business day) make one event.
    """
    now = now or uc.deps.now()
    return await _until_none_left(
        pool, lambda conn: uc.expiry.notify_expiring(conn, now, uc.settings.job_batch)
    )


async def give_up_parked(
    uc: PointsUseCases, pool: asyncpg.Pool, now: dt.datetime | None = None
) -> int:
    """Give up the storefront events that waited for their member past the wait; returns how
    many. Also counts what is still parked (the `points_parked_events` gauge)."""
    now = now or uc.deps.now()
    given_up = await _until_none_left(
        pool, lambda conn: uc.parking.give_up_due(conn, now, uc.settings.job_batch)
    )
    async with pool.acquire() as conn:
        await uc.parking.count_open(conn)
    if given_up:
        log.warning("parked_events_given_up", count=given_up)
    return given_up


def scheduled(uc: PointsUseCases) -> list[Job]:
    s = uc.settings
    return [
        Job("points-expire-lots", s.expiry_interval_seconds, lambda pool: expire_lots(uc, pool)),
        Job(
            "points-hold-timeout",
            s.hold_timeout_interval_seconds,
            lambda pool: release_timed_out_holds(uc, pool),
        ),
        Job(
            "points-expiring-notice",
            s.expiring_notice_interval_seconds,
            lambda pool: notify_expiring(uc, pool),
        ),
        Job("points-parked", s.parked_interval_seconds, lambda pool: give_up_parked(uc, pool)),
    ]
