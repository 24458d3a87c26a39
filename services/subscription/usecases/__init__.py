"""Subscription's use cases, one class per concern, built once per process from the deps
(`SubscriptionUseCases.build`). Each locks what it changes, lets the domain decide, and writes
the rows, the audit trail and the events in the caller's transaction."""

from __future__ import annotations

from dataclasses import dataclass

from ..deps import SubscriptionDeps
from .members import Members
from .plans import Plans
from .purchases import Purchases
from .subscriptions import Subscriptions


@dataclass(frozen=True)
class SubscriptionUseCases:
    deps: SubscriptionDeps
    plans: Plans
    purchases: Purchases
    subscriptions: Subscriptions
    members: Members

    @classmethod
    def build(cls, deps: SubscriptionDeps) -> SubscriptionUseCases:
        return cls(
            deps=deps,
            plans=Plans(deps),
            purchases=Purchases(deps),
            subscriptions=Subscriptions(deps),
            members=Members(deps),
        )
