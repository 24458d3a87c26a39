"""A member's stored value: top-ups with bonus, refunds, history."""

from __future__ import annotations

from ..deps import GiftcardDeps


class StoredValue:
    def __init__(self, deps: GiftcardDeps) -> None:
        self.deps = deps

    async def paid(self, conn, top_up_id, payment_id: str, currency_code: str, amount: int):
        raise NotImplementedError

    async def payment_failed(self, conn, top_up_id) -> None:
        raise NotImplementedError
