"""Partner perk pools: the codes operators upload, inventory and its low-level warning."""

from __future__ import annotations

from ..deps import SubscriptionDeps


class Perks:
    def __init__(self, deps: SubscriptionDeps) -> None:
        self.deps = deps
