"""Refund quotes and refunds (domain/refunds.py has the formula), and a closed member's subscription ended with its refund."""

from __future__ import annotations

from ..deps import SubscriptionDeps


class Refunds:
    def __init__(self, deps: SubscriptionDeps) -> None:
        self.deps = deps
