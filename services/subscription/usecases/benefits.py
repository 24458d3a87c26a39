"""Benefits: what a member has now, quotas per window, atomic claims."""

from __future__ import annotations

from ..deps import SubscriptionDeps


class Benefits:
    def __init__(self, deps: SubscriptionDeps) -> None:
        self.deps = deps
