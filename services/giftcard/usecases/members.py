"""What giftcard knows of members from identity's events: a frozen member spends nothing (bound
cards, stored value); a closed member's cards are unbound (they stay spendable by number and
PIN) and its stored value stays a liability until finance refunds it."""

from __future__ import annotations

import uuid

from ..deps import GiftcardDeps
from ..store import members as store


class Members:
    def __init__(self, deps: GiftcardDeps) -> None:
        self.deps = deps

    async def set_status(self, conn, member_id: uuid.UUID, status: str) -> str:
        return await store.set_status(conn, member_id, status, self.deps.now())

    async def close(self, conn, member_id: uuid.UUID) -> list[uuid.UUID]:
        now = self.deps.now()
        await store.set_status(conn, member_id, "closed", now)
        return await store.unbind_all(conn, member_id, now)
