"""Redemption codes: batches issued to partner channels, exported once, redeemed once, attempts limited."""

from __future__ import annotations

from ..deps import SubscriptionDeps


class Codes:
    def __init__(self, deps: SubscriptionDeps) -> None:
        self.deps = deps
