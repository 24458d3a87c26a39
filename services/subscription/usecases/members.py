"""What subscription knows of members from identity's events: a frozen member cannot buy (nor
redeem, claim, resume or renew); a closed member can do nothing, and the subscription it had
ends at once with the refund the formula gives (refunds.py)."""

from __future__ import annotations

import uuid

from ..deps import SubscriptionDeps
from ..domain.lifecycle import MemberStatus
from ..store import members as store
from .refunds import Refunds


class Members:
    def __init__(self, deps: SubscriptionDeps) -> None:
        self.deps = deps
        self._refunds = Refunds(deps)

    async def set_status(self, conn, member_id: uuid.UUID, status: str) -> str:
        """Record the status identity's event gives (a closed member stays closed); closing
        ends the member's live subscription in the same transaction. Returns the status kept."""
        kept = await store.set_status(conn, member_id, status, self.deps.now())
        if kept == MemberStatus.CLOSED.value:
            await self._refunds.close_member(conn, member_id)
        return kept
