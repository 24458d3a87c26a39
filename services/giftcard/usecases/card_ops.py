"""Operator actions on a card: read, list, freeze, unfreeze, cancel, replace, extend validity."""

from __future__ import annotations

from ..deps import GiftcardDeps


class CardOps:
    def __init__(self, deps: GiftcardDeps) -> None:
        self.deps = deps
