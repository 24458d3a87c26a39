"""What giftcard knows of members from identity's events (frozen, closed)."""

from __future__ import annotations

from ..deps import GiftcardDeps


class Members:
    def __init__(self, deps: GiftcardDeps) -> None:
        self.deps = deps
