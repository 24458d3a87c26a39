"""Subscription's use cases, one class per concern, built once per process from the deps
(`SubscriptionUseCases.build`). Each locks what it changes, lets the domain decide, and writes
the rows, the audit trail and the events in the caller's transaction."""

from __future__ import annotations

from dataclasses import dataclass

from ..deps import SubscriptionDeps
from .benefits import Benefits
from .changes import PlanChanges
from .choices import Choices
from .codes import Codes
from .members import Members
from .perks import Perks
from .plans import Plans
from .purchases import Purchases
from .refunds import Refunds
from .renewals import Renewals
from .subscriptions import Subscriptions


@dataclass(frozen=True)
class SubscriptionUseCases:
    deps: SubscriptionDeps
    plans: Plans
    purchases: Purchases
    subscriptions: Subscriptions
    members: Members
    renewals: Renewals
    changes: PlanChanges
    choices: Choices
    refunds: Refunds
    benefits: Benefits
    perks: Perks
    codes: Codes

    @classmethod
    def build(cls, deps: SubscriptionDeps) -> SubscriptionUseCases:
        return cls(
            deps=deps,
            plans=Plans(deps),
            purchases=Purchases(deps),
            subscriptions=Subscriptions(deps),
            members=Members(deps),
            renewals=Renewals(deps),
            changes=PlanChanges(deps),
            choices=Choices(deps),
            refunds=Refunds(deps),
            benefits=Benefits(deps),
            perks=Perks(deps),
            codes=Codes(deps),
        )
