"""A member's stored value: top-ups with bonus, refunds, history."""

from __future__ import annotations

from ..deps import GiftcardDeps


class StoredValue:
    def __init__(self, deps: GiftcardDeps) -> None:
        self.deps = deps
