"""Refund (退卡) and exchange (调换) requests: no consumption, a manager's approval."""

from __future__ import annotations

from ..deps import GiftcardDeps
from .approvals import Approvals


class AfterSales:
    def __init__(self, deps: GiftcardDeps, approvals: Approvals) -> None:
        self.deps = deps
        self.approvals = approvals
