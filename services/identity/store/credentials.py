"""The login side of a member: password hash, status and the failed-login count."""

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
    failed_logins: int
    locked_until: dt.datetime | None


async def find(conn, *, phone: str | None = None, email: str | None = None) -> Credential | None:
    """The login row of a member, locked so concurrent failures count one by one."""
    row = await conn.fetchrow(
        "SELECT member_id, password_hash, status, failed_logins, locked_until FROM members"
        " WHERE (phone = $1 OR email = $2) FOR UPDATE",
        phone,
        email,
    )
    if row is None:
        return None
    return Credential(
        row["member_id"],
        row["password_hash"],
        MemberStatus(row["status"]),
        row["failed_logins"],
        row["locked_until"],
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
