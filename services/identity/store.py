"""All SQL of the identity service."""

from __future__ import annotations

import datetime as dt
import uuid

import asyncpg

MEMBER_COLUMNS = """
    m.member_id, m.phone, m.email, m.status, m.channel, m.nickname, m.gender, m.birthday,
    m.region, m.referral_code, m.referred_by, m.id_number_masked, m.legal_name_enc,
    m.verified_at, m.created_at, m.updated_at, m.password_hash IS NOT NULL AS has_password,
    coalesce((SELECT array_agg(t.tag ORDER BY t.tag) FROM member_tags t
              WHERE t.member_id = m.member_id), '{}') AS tags,
    coalesce((SELECT array_agg(l.provider || ':' || l.subject ORDER BY l.provider)
              FROM linked_accounts l WHERE l.member_id = m.member_id), '{}') AS linked
"""


class Conflict(Exception):
    """A unique constraint refused the write; `constraint` names which."""

    def __init__(self, constraint: str) -> None:
        super().__init__(constraint)
        self.constraint = constraint


async def insert_member(conn: asyncpg.Connection, **values) -> None:
    columns = ", ".join(values)
    params = ", ".join(f"${i}" for i in range(1, len(values) + 1))
    try:
        async with conn.transaction():  # a savepoint: the caller's transaction survives
            await conn.execute(
                f"INSERT INTO members ({columns}) VALUES ({params})", *values.values()
            )
    except asyncpg.UniqueViolationError as exc:
        raise Conflict(exc.constraint_name or "") from exc


async def get_member(conn, member_id: uuid.UUID, *, lock: bool = False):
    suffix = " FOR UPDATE OF m" if lock else ""
    return await conn.fetchrow(
        f"SELECT {MEMBER_COLUMNS} FROM members m WHERE m.member_id = $1{suffix}", member_id
    )


async def member_id_by_referral_code(conn, code: str) -> uuid.UUID | None:
    return await conn.fetchval(
        "SELECT member_id FROM members WHERE referral_code = $1 AND status <> 'closed'", code
    )


async def credential(conn, *, phone: str | None = None, email: str | None = None):
    """The login row of a member, locked so concurrent failures count one by one."""
    return await conn.fetchrow(
        "SELECT member_id, password_hash, status, failed_logins, locked_until FROM members"
        " WHERE (phone = $1 OR email = $2) FOR UPDATE",
        phone,
        email,
    )


async def record_login(
    conn, member_id: uuid.UUID, failures: int, locked_until: dt.datetime | None
) -> None:
    await conn.execute(
        "UPDATE members SET failed_logins = $2, locked_until = $3 WHERE member_id = $1",
        member_id,
        failures,
        locked_until,
    )


async def update_profile(conn, member_id: uuid.UUID, changes: dict) -> None:
    sets = ", ".join(f"{column} = ${i}" for i, column in enumerate(changes, start=2))
    await conn.execute(
        f"UPDATE members SET {sets}, updated_at = now() WHERE member_id = $1",
        member_id,
        *changes.values(),
    )


async def set_verification(
    conn,
    member_id,
    *,
    legal_name_enc: bytes,
    id_number_enc: bytes,
    id_number_hash: bytes,
    id_number_masked: str,
) -> None:
    try:
        async with conn.transaction():
            await conn.execute(
                "UPDATE members SET legal_name_enc = $2, id_number_enc = $3, id_number_hash = $4,"
                " id_number_masked = $5, verified_at = now(), updated_at = now()"
                " WHERE member_id = $1",
                member_id,
                legal_name_enc,
                id_number_enc,
                id_number_hash,
                id_number_masked,
            )
    except asyncpg.UniqueViolationError as exc:
        raise Conflict(exc.constraint_name or "") from exc


async def set_status(conn, member_id: uuid.UUID, status: str) -> None:
    await conn.execute(
        "UPDATE members SET status = $2, updated_at = now() WHERE member_id = $1",
        member_id,
        status,
    )


async def erase_member(conn, member_id: uuid.UUID) -> None:
    """Closing erases personal data; the id stays for the ledgers that refer to it."""
    await conn.execute(
        "UPDATE members SET status = 'closed', phone = NULL, email = NULL, password_hash = NULL,"
        " nickname = '', gender = '', birthday = NULL, region = '', legal_name_enc = NULL,"
        " id_number_enc = NULL, id_number_hash = NULL, id_number_masked = NULL,"
        " closed_at = now(), updated_at = now() WHERE member_id = $1",
        member_id,
    )
    await conn.execute("DELETE FROM linked_accounts WHERE member_id = $1", member_id)
    await conn.execute("DELETE FROM member_tags WHERE member_id = $1", member_id)
    await revoke_member_tokens(conn, member_id)


async def add_tags(conn, member_id: uuid.UUID, tags: list[str]) -> None:
    await conn.execute(
        "INSERT INTO member_tags (member_id, tag) SELECT $1, unnest($2::text[])"
        " ON CONFLICT DO NOTHING",
        member_id,
        tags,
    )


async def remove_tags(conn, member_id: uuid.UUID, tags: list[str]) -> None:
    await conn.execute(
        "DELETE FROM member_tags WHERE member_id = $1 AND tag = ANY($2::text[])", member_id, tags
    )


async def count_tags(conn, member_id: uuid.UUID) -> int:
    return await conn.fetchval("SELECT count(*) FROM member_tags WHERE member_id = $1", member_id)


async def link_account(conn, member_id: uuid.UUID, provider: str, subject: str) -> None:
    try:
        async with conn.transaction():
            await conn.execute(
                "INSERT INTO linked_accounts (provider, subject, member_id) VALUES ($1, $2, $3)",
                provider,
                subject,
                member_id,
            )
    except asyncpg.UniqueViolationError as exc:
        raise Conflict(exc.constraint_name or "") from exc


async def unlink_account(conn, member_id: uuid.UUID, provider: str) -> bool:
    result = await conn.execute(
        "DELETE FROM linked_accounts WHERE member_id = $1 AND provider = $2", member_id, provider
    )
    return result != "DELETE 0"


async def list_members(
    conn, *, tag: str | None, status: str | None, after: uuid.UUID | None, limit: int
):
    """A page in member_id (creation) order, filtered by tag and status."""
    return await conn.fetch(
        f"SELECT {MEMBER_COLUMNS} FROM members m"
        " WHERE ($1::text IS NULL OR EXISTS (SELECT 1 FROM member_tags t"
        "        WHERE t.member_id = m.member_id AND t.tag = $1))"
        "   AND ($2::text IS NULL OR m.status = $2)"
        "   AND ($3::uuid IS NULL OR m.member_id > $3)"
        " ORDER BY m.member_id LIMIT $4",
        tag,
        status,
        after,
        limit,
    )


async def insert_refresh_token(
    conn, *, token_id, family_id, member_id, token_hash, expires_at
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


async def refresh_token(conn, token_hash: bytes):
    return await conn.fetchrow(
        "SELECT r.token_id, r.family_id, r.member_id, r.expires_at, r.used_at, r.revoked_at,"
        " m.status FROM refresh_tokens r JOIN members m USING (member_id)"
        " WHERE r.token_hash = $1 FOR UPDATE OF r",
        token_hash,
    )


async def mark_refresh_used(conn, token_id: uuid.UUID) -> None:
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


async def insert_client(conn, *, client_id, kind, secret_hash, scopes, roles, display_name) -> None:
    try:
        async with conn.transaction():
            await conn.execute(
                "INSERT INTO clients (client_id, kind, secret_hash, scopes, roles, display_name)"
                " VALUES ($1, $2, $3, $4, $5, $6)",
                client_id,
                kind,
                secret_hash,
                scopes,
                roles,
                display_name,
            )
    except asyncpg.UniqueViolationError as exc:
        raise Conflict(exc.constraint_name or "") from exc


async def get_client(conn, client_id: str):
    return await conn.fetchrow(
        "SELECT client_id, kind, secret_hash, scopes, roles, display_name FROM clients"
        " WHERE client_id = $1",
        client_id,
    )


async def live_signing_keys(conn):
    return await conn.fetch(
        "SELECT kid, private_enc FROM signing_keys WHERE retired_at IS NULL"
        " ORDER BY created_at DESC"
    )


async def add_signing_key_if_none(conn, kid: str, private_enc: bytes) -> None:
    """First start: one replica creates the key, the others wait on the lock and reuse it."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('identity:signing-key'))")
    if not await conn.fetchval("SELECT 1 FROM signing_keys WHERE retired_at IS NULL"):
        await add_signing_key(conn, kid, private_enc)


async def add_signing_key(conn, kid: str, private_enc: bytes) -> None:
    await conn.execute(
        "INSERT INTO signing_keys (kid, private_enc) VALUES ($1, $2)", kid, private_enc
    )
