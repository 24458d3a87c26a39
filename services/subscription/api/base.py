"""What every part of the subscription API holds: the deps and the use cases. The servicers
are built from one part per concern (`api/__init__.py`)."""

from __future__ import annotations

import asyncpg

from ..deps import SubscriptionDeps
from ..usecases import SubscriptionUseCases


class Part:
    def __init__(self, deps: SubscriptionDeps, usecases: SubscriptionUseCases) -> None:
        self.deps = deps
        self.uc = usecases

    @property
    def pool(self) -> asyncpg.Pool:
        return self.deps.pool
