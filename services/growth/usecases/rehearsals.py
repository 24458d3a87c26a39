"""Rehearsals: a candidate rule set over every member's stored facts, compared with the active
one, changing nothing."""

from __future__ import annotations

from dataclasses import dataclass

from ..deps import GrowthDeps
from .rules import Rules


@dataclass(frozen=True)
class Rehearsals:
    deps: GrowthDeps
    rules: Rules
