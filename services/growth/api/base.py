"""What every part of the growth API holds: the deps and the use cases. The servicers are built
from one part per concern (`api/__init__.py`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import asyncpg

if TYPE_CHECKING:  # the use cases import the API's conversions (rules_convert)
    from ..deps import GrowthDeps
    from ..usecases import GrowthUseCases


class Part:
    def __init__(self, deps: GrowthDeps, usecases: GrowthUseCases) -> None:
        self.deps = deps
        self.uc = usecases

    @property
    def pool(self) -> asyncpg.Pool:
        return self.deps.pool
