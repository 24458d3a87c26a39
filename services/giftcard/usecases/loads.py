"""Loading value onto a batch's cards (maker) and its review (checker): only then are cards ready."""

from __future__ import annotations

from ..deps import GiftcardDeps


class Loads:
    def __init__(self, deps: GiftcardDeps) -> None:
        self.deps = deps
