"""Growth's use cases, one class per concern, built once per process from the deps
(`GrowthUseCases.build`)."""

from __future__ import annotations

from dataclasses import dataclass

from ..deps import GrowthDeps
from .facts import Facts
from .members import Members
from .rehearsals import Rehearsals
from .rules import Rules
from .settlements import Settlements


@dataclass(frozen=True)
class GrowthUseCases:
    deps: GrowthDeps
    facts: Facts
    rules: Rules
    settlements: Settlements
    members: Members
    rehearsals: Rehearsals

    @classmethod
    def build(cls, deps: GrowthDeps) -> GrowthUseCases:
        rules = Rules(deps)
        return cls(
            deps,
            Facts(deps),
            rules,
            Settlements(deps, rules),
            Members(deps, rules),
            Rehearsals(deps, rules),
        )
