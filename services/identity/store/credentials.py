"""The login side of a member: password hash and status, and the sources it signed in from."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from ..domain.member import MemberStatus


@dataclass(frozen=True)
class Credential:
    member_id: uuid.UUID
    password_hash: str | None
    status: MemberStatus
    known_source: bool  # the member signed in from the asked source lately


async def find(
    conn,
    *,
    phone: str | None = None,
    email: str | None = None,
    source: str,
    since: dt.datetime,
) -> Credential | None:
    """The login row of a member, read without a lock (nothing is held while the password is
    checked), and whether the member signed in from `source` after `since`."""
    row = await conn.fetchrow(
        "SELECT m.member_id, m.password_hash, m.status, EXISTS ("
        "    SELECT 1 FROM login_sources s WHERE s.member_id = m.member_id"
        "    AND s.source = $3 AND s.last_login_at > $4) AS known_source"
        " FROM members m WHERE (m.phone = $1 OR m.email = $2)",
        phone,
        email,
        source,
        since,
    )
    if row is None:
        return None
    return Credential(
        row["member_id"], row["password_hash"], MemberStatus(row["status"]), row["known_source"]
    )


async def hold_for_sign_in(conn, member_id: uuid.UUID) -> Credential | None:
    """The login row again, share-locked until the transaction ends: closing the member (which
    locks it for update) waits, so no refresh token is issued past a close."""
    row = await conn.fetchrow(
        "SELECT member_id, password_hash, status FROM members WHERE member_id = $1 FOR SHARE",
        member_id,
    )
    if row is None:
        return None
    return Credential(row["member_id"], row["password_hash"], MemberStatus(row["status"]), False)


@dataclass(frozen=True)
class OwnProof:
    """What a member proves itself with: its password (hash), else a code sent to its phone
    number, else to its e-mail address."""

    status: MemberStatus
    password_hash: str | None
    phone: str | None
    email: str | None


async def own_proof(conn, member_id: uuid.UUID) -> OwnProof | None:
    row = await conn.fetchrow(
        "SELECT status, password_hash, phone, email FROM members WHERE member_id = $1", member_id
    )
    if row is None:
        return None
    return OwnProof(MemberStatus(row["status"]), row["password_hash"], row["phone"], row["email"])


async def remember_source(conn, member_id: uuid.UUID, source: str, when: dt.datetime) -> None:
    await conn.execute(
        "INSERT INTO login_sources (member_id, source, last_login_at) VALUES ($1, $2, $3)"
        " ON CONFLICT (member_id, source) DO UPDATE SET"
        " last_login_at = greatest(login_sources.last_login_at, EXCLUDED.last_login_at)",
        member_id,
        source,
        when,
    )


async def forget_sources_before(conn, before: dt.datetime) -> int:
    status = await conn.execute("DELETE FROM login_sources WHERE last_login_at < $1", before)
    return int(status.split()[-1])


async def forget_member_sources(conn, member_id: uuid.UUID) -> None:
    await conn.execute("DELETE FROM login_sources WHERE member_id = $1", member_id)
