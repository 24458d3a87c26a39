"""GetCard, ListCards, FreezeCard, UnfreezeCard, CancelCard, ReplaceCard, ExtendCardValidity."""

from __future__ import annotations

from .base import Part


class CardsApi(Part):
    pass
