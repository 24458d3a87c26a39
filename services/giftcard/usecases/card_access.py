"""A card by number and PIN: wrong PINs lock the number and throttle the caller."""

from __future__ import annotations

from ..deps import GiftcardDeps


class CardAccess:
    def __init__(self, deps: GiftcardDeps) -> None:
        self.deps = deps
