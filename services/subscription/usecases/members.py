"""What subscription knows of members from identity's events: a frozen member cannot buy (nor
redeem, claim or renew); a closed member can do nothing."""

from __future__ import annotations

import uuid

from ..deps import SubscriptionDeps
from ..store import members as store


class Members:
    def __init__(self, deps: SubscriptionDeps) -> None:
        self.deps = deps

    async def set_status(self, conn, member_id: uuid.UUID, status: str) -> str:
        return await store.set_status(conn, member_id, status, self.deps.now())
