"""Tagging members (audited; no event)."""

from __future__ import annotations

import uuid

from services.kit import errors

from ..deps import IdentityDeps
from ..domain import tags as rules
from ..store import tags
from ..store.members import MemberRow
from .members import changed, open_for_change


async def add(deps: IdentityDeps, conn, member_id: uuid.UUID, adding: list[str]) -> MemberRow:
    await open_for_change(conn, member_id)
    # Read after the member's lock is held, not from the locked row: that statement's snapshot
    # predates the wait, and would miss tags a concurrent call added meanwhile.
    held = await tags.held(conn, member_id)
    if rules.too_many(rules.count_after_adding(held, adding)):
        raise errors.failed_precondition(
            "TOO_MANY_TAGS", f"a member holds at most {rules.MAX_TAGS} tags"
        )
    await tags.add(conn, member_id, adding)
    return await changed(deps, conn, member_id, "member.tag", tags=adding)


async def remove(deps: IdentityDeps, conn, member_id: uuid.UUID, removing: list[str]) -> MemberRow:
    await open_for_change(conn, member_id)
    await tags.remove(conn, member_id, removing)
    return await changed(deps, conn, member_id, "member.untag", tags=removing)
