"""Checkout holds on cards and stored value: place, capture, release, expire."""

from __future__ import annotations

from ..deps import GiftcardDeps


class Holds:
    def __init__(self, deps: GiftcardDeps) -> None:
        self.deps = deps
