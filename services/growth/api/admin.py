"""GrowthAdminService: rule sets (create, validate, activate, read) and settlements (run or
resume, read)."""

from __future__ import annotations

from .base import Part


class RuleSetsApi(Part):
    pass


class SettlementsApi(Part):
    pass
