"""What growth's servicers, use cases, handlers and jobs may use: the kit's deps."""

from __future__ import annotations

from dataclasses import dataclass

from services.kit.deps import Deps

from .config import GrowthSettings


@dataclass
class GrowthDeps(Deps[GrowthSettings]):
    @property
    def zone(self) -> str:
        """The business zone days, months and settlement periods are counted in."""
        return self.settings.business_zone
