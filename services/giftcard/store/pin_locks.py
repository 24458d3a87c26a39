"""Wrong PINs per card number (keyed by a hash of the number, known or not): the row is
locked while one attempt is judged, so attempts on one number are counted one at a time."""

from __future__ import annotations

import datetime as dt

from ..domain.lockout import PinAttempts


async def lock(conn, number_hash: bytes) -> PinAttempts:
    await conn.execute(
        "INSERT INTO pin_locks (number_hash) VALUES ($1) ON CONFLICT DO NOTHING", number_hash
    )
    row = await conn.fetchrow(
        "SELECT failures, locked_until FROM pin_locks WHERE number_hash = $1 FOR UPDATE",
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
