"""Growth settings (GROWTH_*, falling back to LOYALTY_*)."""

from __future__ import annotations

from services.kit.config import ServiceSettings


class GrowthSettings(ServiceSettings, service="growth"):
    # How often the settlement job looks for a due period (it settles the previous month from
    # the 1st, 00:00 in the business zone) and how many members one of its transactions takes.
    settlement_interval_seconds: float = 60
    settlement_batch: int = 5000
    # Chunks settled at once: the database does the work, so about one per core it has.
    settlement_workers: int = 2
