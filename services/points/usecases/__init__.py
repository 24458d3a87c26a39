"""The points use cases: each locks the member, lets the domain decide, and writes the
journal, the buckets, the lots and the events, all inside the caller's transaction.

Every operation on a member starts by locking the member's account row, so operations on one
member run one at a time while different members proceed in parallel. Lots change only under
that lock. The use cases share one `Accounts` (the lock, posting, lots, events) and are built
once per process, from the deps, by `PointsUseCases.build`.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.kit.deps import Deps

from ..config import PointsSettings
from .accounts import Accounts, Posted, Writes
from .commerce import Commerce
from .corrections import Corrections
from .earning import Earning
from .expiry import Expiry
from .members import Members
from .orders import Orders
from .parking import Parking
from .reading import Reading
from .rules import Rules
from .spending import Spending


@dataclass(frozen=True)
class PointsUseCases:
    """What the servicer, the event handlers and the jobs call."""

    deps: Deps[PointsSettings]
    accounts: Accounts
    rules: Rules
    reading: Reading
    earning: Earning
    spending: Spending
    corrections: Corrections
    expiry: Expiry
    orders: Orders
    parking: Parking
    commerce: Commerce
    members: Members

    @classmethod
    def build(cls, deps: Deps[PointsSettings]) -> PointsUseCases:
        accounts = Accounts(deps)
        rules = Rules(deps)
        earning = Earning(accounts, rules)
        spending = Spending(accounts)
        corrections = Corrections(accounts, rules)
        parking = Parking(accounts)
        orders = Orders(accounts, rules, earning, spending, corrections, parking)
        commerce = Commerce(parking, orders, earning)
        return cls(
            deps=deps,
            accounts=accounts,
            rules=rules,
            reading=Reading(accounts),
            earning=earning,
            spending=spending,
            corrections=corrections,
            expiry=Expiry(accounts, spending),
            orders=orders,
            parking=parking,
            commerce=commerce,
            members=Members(earning, commerce),
        )

    @property
    def settings(self) -> PointsSettings:
        return self.deps.settings


__all__ = ["Accounts", "PointsUseCases", "Posted", "Writes"]
