"""The renewal job's charges, their answers, and what the clock alone does (grace, expiry, lapsed orders)."""

from __future__ import annotations

from ..deps import SubscriptionDeps


class Renewals:
    def __init__(self, deps: SubscriptionDeps) -> None:
        self.deps = deps
