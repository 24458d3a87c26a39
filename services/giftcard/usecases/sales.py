"""Sales (销售) that activate a requisition's cards, and finance's re-check of each sale."""

from __future__ import annotations

from ..deps import GiftcardDeps


class Sales:
    def __init__(self, deps: GiftcardDeps) -> None:
        self.deps = deps
