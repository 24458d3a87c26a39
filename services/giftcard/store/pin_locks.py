"""Wrong PINs per card number (keyed by a hash of the number, known or not): the row is
locked while one attempt is judged, so attempts on one number are counted one at a time."""

from __future__ import annotations

import datetime as dt

from ..domain.lockout import PinAttempts


async def lock(conn, number_hash: bytes) -> PinAttempts | None:
    """The number's failures on record, its row locked; None when there are none (most
    checks: a good PIN then writes nothing)."""
    row = await conn.fetchrow(
        "SELECT failures, locked_until FROM pin_locks WHERE number_hash = $1 FOR UPDATE",
        number_hash,
    )
    return PinAttempts(row["failures"], row["locked_until"]) if row else None


async def lock_for_failure(conn, number_hash: bytes) -> PinAttempts:
    """The number's row, made if need be and locked: concurrent failures on a number with
    none on record count one after another (the upsert returns the row it locked)."""
    row = await conn.fetchrow(
        "INSERT INTO pin_locks AS p (number_hash) VALUES ($1)"
        " ON CONFLICT (number_hash) DO UPDATE SET number_hash = p.number_hash"
        " RETURNING failures, locked_until",
        number_hash,
    )
    return PinAttempts(row["failures"], row["locked_until"])


async def save(conn, number_hash: bytes, attempts: PinAttempts, now: dt.datetime) -> None:
    if attempts.failures == 0 and attempts.locked_until is None:
        await conn.execute("DELETE FROM pin_locks WHERE number_hash = $1", number_hash)
        return
    await conn.execute(
        "UPDATE pin_locks SET failures = $2, locked_until = $3, update_time = $4"
        " WHERE number_hash = $1",
        number_hash,
        attempts.failures,
        attempts.locked_until,
        now,
    )


async def locked_until(conn, number_hash: bytes) -> dt.datetime | None:
    return await conn.fetchval(
        "SELECT locked_until FROM pin_locks WHERE number_hash = $1", number_hash
    )


async def prune(conn, before: dt.datetime, limit: int) -> int:
    """Forget counts nobody added to since `before` whose lock (if any) is over."""
    status = await conn.execute(
        "DELETE FROM pin_locks WHERE number_hash IN (SELECT number_hash FROM pin_locks"
        " WHERE update_time < $1 AND (locked_until IS NULL OR locked_until < $1) LIMIT $2)",
        before,
        limit,
    )
    return int(status.split()[-1])
