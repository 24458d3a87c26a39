"""Stock and the daily reconciliation report (进销存), exact to the fen."""

from __future__ import annotations

from ..deps import GiftcardDeps


class Reconciliation:
    def __init__(self, deps: GiftcardDeps) -> None:
        self.deps = deps
