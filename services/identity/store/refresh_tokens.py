"""Refresh tokens, stored only as hashes, in families descending from one sign-in."""

from __future__ import annotations

import datetime as dt
import uuid

from ..domain.member import MemberStatus
from ..domain.tokens import RefreshToken


async def insert(
    conn,
    *,
    token_id: uuid.UUID,
    family_id: uuid.UUID,
    member_id: uuid.UUID,
    token_hash: bytes,
    expires_at: dt.datetime,
) -> None:
    await conn.execute(
        "INSERT INTO refresh_tokens (token_id, family_id, member_id, token_hash, expires_at)"
        " VALUES ($1, $2, $3, $4, $5)",
        token_id,
        family_id,
        member_id,
        token_hash,
        expires_at,
    )


async def find(conn, token_hash: bytes) -> RefreshToken | None:
    """The token with this hash, locked, with its member's status."""
    row = await conn.fetchrow(
        "SELECT r.token_id, r.family_id, r.member_id, r.expires_at, r.used_at, r.revoked_at,"
        " m.status FROM refresh_tokens r JOIN members m USING (member_id)"
        " WHERE r.token_hash = $1 FOR UPDATE OF r",
        token_hash,
    )
    if row is None:
        return None
    return RefreshToken(
        token_id=row["token_id"],
        family_id=row["family_id"],
        member_id=row["member_id"],
        expires_at=row["expires_at"],
        used_at=row["used_at"],
        revoked_at=row["revoked_at"],
        member_status=MemberStatus(row["status"]),
    )


async def mark_used(conn, token_id: uuid.UUID) -> None:
    await conn.execute("UPDATE refresh_tokens SET used_at = now() WHERE token_id = $1", token_id)


async def revoke_family(conn, family_id: uuid.UUID) -> None:
    await conn.execute(
        "UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = $1 AND revoked_at IS NULL",
        family_id,
    )


async def revoke_member_tokens(conn, member_id: uuid.UUID) -> None:
    await conn.execute(
        "UPDATE refresh_tokens SET revoked_at = now() WHERE member_id = $1 AND revoked_at IS NULL",
        member_id,
    )
