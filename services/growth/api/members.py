"""GrowthService: a member's growth, the explanation of a score, the provisional score, the
history, the facts, the tier table."""

from __future__ import annotations

from .base import Part


class MemberGrowthApi(Part):
    pass
