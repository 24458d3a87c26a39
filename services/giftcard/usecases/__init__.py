"""Giftcard's use cases, one class per concern, built once per process from the deps
(`GiftcardUseCases.build`). Each locks what it changes, lets the domain decide, and writes the
rows, the journal (store.journal.post), the audit trail and the events in the caller's
transaction."""

from __future__ import annotations

from dataclasses import dataclass

from ..deps import GiftcardDeps
from .after_sales import AfterSales
from .approvals import Approvals
from .batches import Batches
from .card_access import CardAccess
from .card_ops import CardOps
from .expiry import Expiry
from .holds import Holds
from .loads import Loads
from .members import Members
from .orders import Orders
from .products import Products
from .reconciliation import Reconciliation
from .requisitions import Requisitions
from .sales import Sales
from .stored_value import StoredValue
from .wallet import Wallet


@dataclass(frozen=True)
class GiftcardUseCases:
    deps: GiftcardDeps
    approvals: Approvals
    products: Products
    batches: Batches
    loads: Loads
    requisitions: Requisitions
    sales: Sales
    card_ops: CardOps
    after_sales: AfterSales
    reconciliation: Reconciliation
    expiry: Expiry
    card_access: CardAccess
    wallet: Wallet
    holds: Holds
    orders: Orders
    stored_value: StoredValue
    members: Members

    @classmethod
    def build(cls, deps: GiftcardDeps) -> GiftcardUseCases:
        approvals = Approvals(deps)
        holds = Holds(deps)
        return cls(
            deps=deps,
            approvals=approvals,
            products=Products(deps),
            batches=Batches(deps, approvals),
            loads=Loads(deps),
            requisitions=Requisitions(deps, approvals),
            sales=Sales(deps),
            card_ops=CardOps(deps, holds),
            after_sales=AfterSales(deps, approvals),
            reconciliation=Reconciliation(deps),
            expiry=Expiry(deps),
            card_access=CardAccess(deps),
            wallet=Wallet(deps, holds),
            holds=holds,
            orders=Orders(deps, holds),
            stored_value=StoredValue(deps),
            members=Members(deps),
        )
