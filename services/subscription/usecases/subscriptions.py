"""Reading subscriptions: by id, and a member's current (or latest) one."""

from __future__ import annotations

import uuid

from ..deps import SubscriptionDeps
from ..store import subscriptions as store
from . import records
from .records import Held


class Subscriptions:
    def __init__(self, deps: SubscriptionDeps) -> None:
        self.deps = deps

    async def get(self, conn, subscription_id: uuid.UUID) -> Held | None:
        return await records.get(conn, subscription_id)

    async def of_member(self, conn, member_id: uuid.UUID) -> tuple[Held | None, bool]:
        """The member's live subscription, else its latest; and whether it had its trial."""
        held = await records.load(conn, await store.latest(conn, member_id))
        return held, await store.had_trial(conn, member_id)
