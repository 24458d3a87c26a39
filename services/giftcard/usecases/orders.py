"""What the storefront's order events do: capture on payment, release on cancel, value back on refund."""

from __future__ import annotations

from ..deps import GiftcardDeps


class Orders:
    def __init__(self, deps: GiftcardDeps) -> None:
        self.deps = deps
