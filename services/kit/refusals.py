"""How a service's domain says no, without knowing about gRPC; `errors.refused` and
`errors.invalid_field` turn these into the errors callers get."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Refusal:
    """An operation the current state refuses: `reason` (UPPER_SNAKE_CASE) is what callers
    see; `quota` marks a used-up limit (RESOURCE_EXHAUSTED) rather than a state that forbids
    it (FAILED_PRECONDITION)."""

    reason: str
    message: str
    metadata: Mapping[str, str] = field(default_factory=dict)
    quota: bool = False


@dataclass(frozen=True)
class FieldProblem:
    """A request value the rules refuse (INVALID_ARGUMENT naming `field`)."""

    field: str
    description: str
    reason: str = "INVALID_ARGUMENT"
