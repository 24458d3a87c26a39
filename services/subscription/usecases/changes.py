"""Changing plan: now (a pro-rata credit, paid as a plan-change order) or at the next renewal."""

from __future__ import annotations

from ..deps import SubscriptionDeps


class PlanChanges:
    def __init__(self, deps: SubscriptionDeps) -> None:
        self.deps = deps
