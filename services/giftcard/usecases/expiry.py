"""Cards past their validity expire; their balance is breakage."""

from __future__ import annotations

from ..deps import GiftcardDeps


class Expiry:
    def __init__(self, deps: GiftcardDeps) -> None:
        self.deps = deps
