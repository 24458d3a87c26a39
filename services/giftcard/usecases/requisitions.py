"""Requisitions (领用) by a sales desk or for a bulk buyer: approvals by amount, fulfilment, returns."""

from __future__ import annotations

from ..deps import GiftcardDeps
from .approvals import Approvals


class Requisitions:
    def __init__(self, deps: GiftcardDeps, approvals: Approvals) -> None:
        self.deps = deps
        self.approvals = approvals
