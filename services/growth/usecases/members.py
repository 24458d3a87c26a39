"""A member's growth read in one call, the explanation, the provisional score (raising the tier
at once under `immediate`), the history, the facts."""

from __future__ import annotations

from dataclasses import dataclass

from ..deps import GrowthDeps
from .rules import Rules


@dataclass(frozen=True)
class Members:
    deps: GrowthDeps
    rules: Rules
