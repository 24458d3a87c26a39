"""Token signing keys, stored encrypted."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_enc: bytes


async def live(conn) -> list[SigningKey]:
    """Newest first: the first one signs."""
    rows = await conn.fetch(
        "SELECT kid, private_enc FROM signing_keys WHERE retired_at IS NULL"
        " ORDER BY created_at DESC"
    )
    return [SigningKey(r["kid"], r["private_enc"]) for r in rows]


async def add_if_none(conn, key: SigningKey) -> None:
    """First start: one replica creates the key, the others wait on the lock and reuse it."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('identity:signing-key'))")
    if not await conn.fetchval("SELECT 1 FROM signing_keys WHERE retired_at IS NULL"):
        await add(conn, key)


async def add(conn, key: SigningKey) -> None:
    await conn.execute(
        "INSERT INTO signing_keys (kid, private_enc) VALUES ($1, $2)", key.kid, key.private_enc
    )
