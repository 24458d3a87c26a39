"""Reading members, and what every change to a member starts and ends with."""

from __future__ import annotations

import uuid

from google.protobuf.message import Message

from services.kit import audit, auth, errors

from ..deps import IdentityDeps
from ..domain import member as rules
from ..domain.member import MemberStatus
from ..store import members
from ..store.members import MemberRow


async def found(conn, member_id: uuid.UUID, *, lock: bool = False) -> MemberRow:
    row = await members.get(conn, member_id, lock=lock)
    if row is None:
        raise errors.not_found("member", str(member_id))
    return row


async def open_for_change(conn, member_id: uuid.UUID) -> MemberRow:
    """The member row, locked; refuses unknown and closed members."""
    row = await found(conn, member_id, lock=True)
    if not rules.is_open(row.status):
        raise errors.failed_precondition("MEMBER_CLOSED", "the member has closed the account")
    return row


async def changed(
    deps: IdentityDeps,
    conn,
    member_id: uuid.UUID,
    action: str,
    event: Message | None = None,
    **detail,
) -> MemberRow:
    """How a change to a member ends: its audit entry, its event (tags publish none), and the
    member as it now is."""
    await audit.record(
        conn, actor=auth.actor("anonymous"), action=action, subject=member_id, detail=detail
    )
    if event is not None:
        await deps.outbox.add(conn, member_id, event)
    return await found(conn, member_id)


async def get(deps: IdentityDeps, member_id: uuid.UUID) -> MemberRow:
    async with deps.pool.acquire() as conn:
        return await found(conn, member_id)


async def page(
    deps: IdentityDeps,
    *,
    tag: str | None,
    status: MemberStatus | None,
    after: uuid.UUID | None,
    limit: int,
) -> list[MemberRow]:
    async with deps.pool.acquire() as conn:
        return await members.page(conn, tag=tag, status=status, after=after, limit=limit)
