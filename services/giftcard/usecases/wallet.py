"""The holder's side of cards: balance, binding, loss reports, history."""

from __future__ import annotations

from ..deps import GiftcardDeps


class Wallet:
    def __init__(self, deps: GiftcardDeps) -> None:
        self.deps = deps
