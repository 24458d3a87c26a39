"""Giftcard's scheduled jobs (replica-safe: each takes the kit's job lock)."""

from __future__ import annotations

from services.kit.jobs import Job

from .usecases import GiftcardUseCases


def scheduled(usecases: GiftcardUseCases) -> list[Job]:
    return []
