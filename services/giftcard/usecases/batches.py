"""Batch requests, their approval, card generation, the one-time export of the secrets and its recovery."""

from __future__ import annotations

from ..deps import GiftcardDeps
from .approvals import Approvals


class Batches:
    def __init__(self, deps: GiftcardDeps, approvals: Approvals) -> None:
        self.deps = deps
        self.approvals = approvals
