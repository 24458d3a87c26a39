"""The events giftcard consumes: identity's member events, the storefront's order and payment
events. Each handler runs in the inbox transaction and calls one use case."""

from __future__ import annotations

from services.kit.inbox import Subscription

from .usecases import GiftcardUseCases


class Handlers:
    def __init__(self, usecases: GiftcardUseCases) -> None:
        self.uc = usecases

    def subscriptions(self) -> list[Subscription]:
        return []
