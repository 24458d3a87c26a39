"""Card products (denomination or custom amount, validity, channels)."""

from __future__ import annotations

from ..deps import GiftcardDeps


class Products:
    def __init__(self, deps: GiftcardDeps) -> None:
        self.deps = deps
