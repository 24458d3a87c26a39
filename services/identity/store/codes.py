"""One-time codes and their tries: addresses and codes only as keyed hashes."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from ..domain.codes import Purpose


@dataclass(frozen=True)
class LiveCode:
    code_id: uuid.UUID
    code_hash: bytes


async def replace(
    conn,
    *,
    code_id: uuid.UUID,
    address: str,
    purpose: Purpose,
    code_hash: bytes,
    expires_at: dt.datetime,
) -> None:
    """The address's new code for `purpose`; its earlier ones (and their tries) are gone."""
    await conn.execute(
        "DELETE FROM verification_codes WHERE address = $1 AND purpose = $2", address, purpose
    )
    await conn.execute(
        "INSERT INTO verification_codes (code_id, address, purpose, code_hash, expires_at)"
        " VALUES ($1, $2, $3, $4, $5)",
        code_id,
        address,
        purpose,
        code_hash,
        expires_at,
    )
    await conn.execute("INSERT INTO verification_attempts (code_id) VALUES ($1)", code_id)


async def try_latest(
    conn, address: str, purpose: Purpose, now: dt.datetime, max_attempts: int
) -> LiveCode | None:
    """Counts a try of the address's latest code for `purpose` and returns it to compare,
    unless it is used, expired or tried `max_attempts` times already (None: nothing counted).
    Concurrent tries wait for each other on the count: no more than `max_attempts` ever get
    through."""
    row = await conn.fetchrow(
        "UPDATE verification_attempts a SET attempts = a.attempts + 1"
        " FROM (SELECT code_id, code_hash, used_at, expires_at FROM verification_codes"
        "       WHERE address = $1 AND purpose = $2 ORDER BY code_id DESC LIMIT 1) c"
        " WHERE a.code_id = c.code_id AND c.used_at IS NULL AND c.expires_at > $3"
        "   AND a.attempts < $4"
        " RETURNING c.code_id, c.code_hash",
        address,
        purpose,
        now,
        max_attempts,
    )
    return LiveCode(row["code_id"], row["code_hash"]) if row else None


async def use(conn, code_id: uuid.UUID, now: dt.datetime) -> bool:
    """Uses the code up, in the caller's transaction; False when it was used (or replaced, or
    expired) meanwhile."""
    used = await conn.fetchval(
        "UPDATE verification_codes SET used_at = $2"
        " WHERE code_id = $1 AND used_at IS NULL AND expires_at > $2 RETURNING true",
        code_id,
        now,
    )
    return bool(used)


async def forget_expired(conn, before: dt.datetime) -> int:
    status = await conn.execute("DELETE FROM verification_codes WHERE expires_at < $1", before)
    return int(status.split()[-1])
