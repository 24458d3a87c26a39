"""Subscription's scheduled jobs (replica-safe: each takes the kit's job lock): none yet (the
renewal, grace and order-lapse jobs come with the lifecycle)."""

from __future__ import annotations

from services.kit.jobs import Job

from .usecases import SubscriptionUseCases


def scheduled(usecases: SubscriptionUseCases) -> list[Job]:
    return []
