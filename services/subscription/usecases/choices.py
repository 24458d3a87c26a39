"""The member's choices beside buying: a free trial, cancel (auto-renew off), resume; an operator's gift."""

from __future__ import annotations

from ..deps import SubscriptionDeps


class Choices:
    def __init__(self, deps: SubscriptionDeps) -> None:
        self.deps = deps
