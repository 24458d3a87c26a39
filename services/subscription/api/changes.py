"""ChangePlan: now or at the next renewal."""

from __future__ import annotations

from .base import Part


class PlanChangesApi(Part):
    pass
