"""GrowthAdminService: rehearsals of a candidate rule set over the stored facts."""

from __future__ import annotations

from .base import Part


class RehearsalsApi(Part):
    pass
