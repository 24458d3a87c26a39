"""Freezing, unfreezing and closing a member."""

from __future__ import annotations

import uuid

from google.protobuf.message import Message

from loyalty.identity.v1 import events_pb2 as ev
from services.kit import errors, idempotency, timestamps

from ..deps import IdentityDeps
from ..domain.member import MemberStatus, StatusChange, status_change
from ..store import members
from ..store.members import MemberRow
from .members import changed, found
from .reauth import Reauthenticated

# The audit action of each target status is its event's name.
_ACTIONS = {
    MemberStatus.FROZEN: "member.frozen",
    MemberStatus.ACTIVE: "member.unfrozen",
    MemberStatus.CLOSED: "member.closed",
}


async def change_status(
    deps: IdentityDeps, conn, member_id: uuid.UUID, target: MemberStatus, reason: str
) -> MemberRow:
    row = await found(conn, member_id, lock=True)
    change = status_change(row.status, target)
    if change is StatusChange.UNCHANGED:
        return row
    if change is StatusChange.REFUSED:
        raise errors.failed_precondition("MEMBER_CLOSED", "the member has closed the account")
    if target is MemberStatus.CLOSED:
        await members.erase(conn, member_id)
        await idempotency.erase(conn, member_id)  # replays would hand back what was erased
    else:
        await members.set_status(conn, member_id, target)
    event = _event(target, str(member_id), reason, deps)
    return await changed(deps, conn, member_id, _ACTIONS[target], event, reason=reason)


async def close(
    deps: IdentityDeps, conn, member_id: uuid.UUID, reason: str, proof: Reauthenticated
) -> MemberRow:
    """Closing, once the caller proved what it had to (reauth.check: a member, itself)."""
    await proof.confirm(deps, conn)
    return await change_status(deps, conn, member_id, MemberStatus.CLOSED, reason)


def _event(target: MemberStatus, member_id: str, reason: str, deps: IdentityDeps) -> Message:
    when = timestamps.to_proto(deps.now())
    if target is MemberStatus.FROZEN:
        return ev.MemberFrozen(member_id=member_id, reason=reason, frozen_time=when)
    if target is MemberStatus.ACTIVE:
        return ev.MemberUnfrozen(member_id=member_id, reason=reason, unfrozen_time=when)
    return ev.MemberClosed(member_id=member_id, closed_time=when)
