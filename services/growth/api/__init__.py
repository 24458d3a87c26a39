"""The growth service's gRPC API: proto ⇄ domain conversions and the servicers."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..deps import GrowthDeps
    from ..usecases import GrowthUseCases


def servicers(deps: GrowthDeps, usecases: GrowthUseCases) -> list[object]:
    """GrowthService and GrowthAdminService."""
    return []
