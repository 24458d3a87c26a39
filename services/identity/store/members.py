"""Members: the row every call answers with, registration, profile, verification, status, listing."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

import asyncpg

from services.kit import db

from ..domain.member import MemberStatus, Profile
from ..domain.registration import Channel
from . import credentials, refresh_tokens


class PhoneTaken(db.Duplicate):
    pass


class EmailTaken(db.Duplicate):
    pass


class ReferralCodeTaken(db.Duplicate):
    """Two new members drew the same referral code: the registration may simply be tried again."""


class IdNumberTaken(db.Duplicate):
    pass


_NEW_MEMBER = {
    "members_phone_key": PhoneTaken,
    "members_email_key": EmailTaken,
    "members_referral_code_key": ReferralCodeTaken,
}

_COLUMNS = """
    m.member_id, m.phone, m.email, m.status, m.channel, m.nickname, m.gender, m.birthday,
    m.region, m.referral_code, m.referred_by, m.id_number_masked, m.legal_name_enc,
    m.verified_at, m.created_at, m.updated_at, m.password_hash IS NOT NULL AS has_password,
    coalesce((SELECT array_agg(t.tag ORDER BY t.tag) FROM member_tags t
              WHERE t.member_id = m.member_id), '{}') AS tags,
    coalesce((SELECT array_agg(l.provider || ':' || l.subject ORDER BY l.provider)
              FROM linked_accounts l WHERE l.member_id = m.member_id), '{}') AS linked
"""


@dataclass(frozen=True)
class LinkedAccount:
    provider: str
    subject: str


@dataclass(frozen=True)
class MemberRow:
    member_id: uuid.UUID
    phone: str | None
    email: str | None
    status: MemberStatus
    channel: Channel
    profile: Profile
    referral_code: str
    referred_by: uuid.UUID | None
    id_number_masked: str | None
    legal_name_enc: bytes | None
    verified_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime
    has_password: bool
    tags: tuple[str, ...]
    linked: tuple[LinkedAccount, ...]  # by provider


def _member(r: asyncpg.Record) -> MemberRow:
    return MemberRow(
        member_id=r["member_id"],
        phone=r["phone"],
        email=r["email"],
        status=MemberStatus(r["status"]),
        channel=Channel(r["channel"]),
        profile=Profile(r["nickname"], r["gender"], r["birthday"], r["region"]),
        referral_code=r["referral_code"],
        referred_by=r["referred_by"],
        id_number_masked=r["id_number_masked"],
        legal_name_enc=r["legal_name_enc"],
        verified_at=r["verified_at"],
        created_at=r["created_at"],
        updated_at=r["updated_at"],
        has_password=r["has_password"],
        tags=tuple(r["tags"]),
        # A provider has no ':'; the subject after it may.
        linked=tuple(LinkedAccount(*item.split(":", 1)) for item in r["linked"]),
    )


async def insert(
    conn: asyncpg.Connection,
    *,
    member_id: uuid.UUID,
    phone: str | None,
    email: str | None,
    password_hash: str | None,
    channel: Channel,
    profile: Profile,
    referral_code: str,
    referred_by: uuid.UUID | None,
) -> None:
    """Raises PhoneTaken, EmailTaken or ReferralCodeTaken."""
    with db.duplicates(_NEW_MEMBER):
        async with conn.transaction():  # a savepoint: the caller's transaction survives
            await conn.execute(
                "INSERT INTO members (member_id, phone, email, password_hash, channel, nickname,"
                " gender, birthday, region, referral_code, referred_by)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                member_id,
                phone,
                email,
                password_hash,
                channel,
                profile.nickname,
                profile.gender,
                profile.birthday,
                profile.region,
                referral_code,
                referred_by,
            )


async def get(conn, member_id: uuid.UUID, *, lock: bool = False) -> MemberRow | None:
    suffix = " FOR UPDATE OF m" if lock else ""
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM members m WHERE m.member_id = $1{suffix}", member_id
    )
    return _member(row) if row else None


async def id_by_referral_code(conn, code: str) -> uuid.UUID | None:
    return await conn.fetchval(
        "SELECT member_id FROM members WHERE referral_code = $1 AND status <> 'closed'", code
    )


async def update_profile(conn, member_id: uuid.UUID, changes: dict[str, object]) -> None:
    """`changes` maps profile fields (columns of the same name) to their new values."""
    sets = ", ".join(f"{column} = ${i}" for i, column in enumerate(changes, start=2))
    await conn.execute(
        f"UPDATE members SET {sets}, updated_at = now() WHERE member_id = $1",
        member_id,
        *changes.values(),
    )


async def set_verification(
    conn,
    member_id: uuid.UUID,
    *,
    legal_name_enc: bytes,
    id_number_enc: bytes,
    id_number_hash: bytes,
    id_number_masked: str,
) -> None:
    """Raises IdNumberTaken when the number verifies another member already."""
    with db.duplicates({"members_id_number_hash_key": IdNumberTaken}):
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


async def set_status(conn, member_id: uuid.UUID, status: MemberStatus) -> None:
    await conn.execute(
        "UPDATE members SET status = $2, updated_at = now() WHERE member_id = $1",
        member_id,
        status,
    )


async def erase(conn, member_id: uuid.UUID) -> None:
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
    await credentials.forget_member_sources(conn, member_id)
    await refresh_tokens.revoke_member_tokens(conn, member_id)


async def page(
    conn,
    *,
    tag: str | None,
    status: MemberStatus | None,
    after: uuid.UUID | None,
    limit: int,
) -> list[MemberRow]:
    """A page in member_id (creation) order, filtered by tag and status."""
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM members m"
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
    return [_member(r) for r in rows]
