"""Scheduled work: lot expiry, hold timeouts, expiring-soon notices.

Each job takes `now` so tests (and an operator catching up) can run it for any moment. All
three are idempotent: what they change no longer matches their query afterwards, so a second
run, or a run overlapping another replica's, finds nothing left to do. Work is done one member
(or hold) per transaction, under the member's lock, in bounded batches.
"""

from __future__ import annotations

import datetime as dt

from loyalty.points.v1 import events_pb2 as ev
from services.kit import db, logging, timestamps
from services.kit.jobs import Job

from .ledger import EXPIRED, Ledger
from .store import holds, lots

log = logging.get("points.jobs")


async def expire_lots(ledger: Ledger, pool, now: dt.datetime | None = None) -> int:
    """Post the expiry of every lot past its date; returns the points expired."""
    now = now or ledger.now()
    total = 0
    while True:
        async with pool.acquire() as conn:
            due = await lots.members_with_expired(conn, now, ledger.settings.job_batch)
        if not due:
            break
        for member_id in due:
            async with db.transaction(pool) as conn:
                total += await ledger.expire(conn, member_id, now)
        if len(due) < ledger.settings.job_batch:
            break
    if total:
        log.info("points_expired", points=total)
    return total


async def release_timed_out_holds(ledger: Ledger, pool, now: dt.datetime | None = None) -> int:
    """Release every hold still held past its expiry; returns how many were released."""
    now = now or ledger.now()
    released = 0
    while True:
        async with pool.acquire() as conn:
            due = await holds.timed_out(conn, now, ledger.settings.job_batch)
        if not due:
            break
        for hold in due:
            async with db.transaction(pool) as conn:
                before = await holds.get(conn, hold["hold_id"])
                after = await ledger.release(conn, hold["hold_id"], EXPIRED)
                released += before["state"] == "held" and after["state"] == EXPIRED
        if len(due) < ledger.settings.job_batch:
            break
    if released:
        log.info("holds_timed_out", count=released)
    return released


async def notify_expiring(ledger: Ledger, pool, now: dt.datetime | None = None) -> int:
    """Publish points.expiring for lots expiring within the notice window, once per lot.

    Lots of one member expiring at the same moment (one business day) make one event.
    """
    now = now or ledger.now()
    until = now + dt.timedelta(days=ledger.settings.expiring_notice_days)
    sent = 0
    while True:
        async with db.transaction(pool) as conn:
            groups = await lots.claim_expiring(conn, now, until, ledger.settings.job_batch)
            for group in groups:
                await ledger.outbox.add(
                    conn,
                    "points.expiring",
                    str(group["member_id"]),
                    ev.PointsExpiring(
                        member_id=str(group["member_id"]),
                        points=group["points"],
                        expire_time=timestamps.to_proto(group["expires_at"]),
                    ),
                )
            sent += len(groups)
        if not groups:
            break
    return sent


def scheduled(ledger: Ledger) -> list[Job]:
    s = ledger.settings
    return [
        Job(
            "points-expire-lots", s.expiry_interval_seconds, lambda pool: expire_lots(ledger, pool)
        ),
        Job(
            "points-hold-timeout",
            s.hold_timeout_interval_seconds,
            lambda pool: release_timed_out_holds(ledger, pool),
        ),
        Job(
            "points-expiring-notice",
            s.expiring_notice_interval_seconds,
            lambda pool: notify_expiring(ledger, pool),
        ),
    ]
