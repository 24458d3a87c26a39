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


async def _one_by_one(pool, batch: int, find, apply) -> int:
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


async def expire_lots(ledger: Ledger, pool, now: dt.datetime | None = None) -> int:
    """Post the expiry of every lot past its date; returns the points expired."""
    now = now or ledger.now()
    total = await _one_by_one(
        pool,
        ledger.settings.job_batch,
        lambda conn, batch: lots.members_with_expired(conn, now, batch),
        lambda conn, member_id: ledger.expire(conn, member_id, now),
    )
    if total:
        log.info("points_expired", points=total)
    return total


async def release_timed_out_holds(ledger: Ledger, pool, now: dt.datetime | None = None) -> int:
    """Release every hold still held past its expiry; returns how many were released."""
    now = now or ledger.now()

    async def release(conn, hold) -> int:
        before = await holds.get(conn, hold["hold_id"])
        after = await ledger.release(conn, hold["hold_id"], EXPIRED)
        return int(before["state"] == "held" and after["state"] == EXPIRED)

    released = await _one_by_one(
        pool,
        ledger.settings.job_batch,
        lambda conn, batch: holds.timed_out(conn, now, batch),
        release,
    )
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
