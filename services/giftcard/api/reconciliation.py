"""GetStock, GetReconciliationReport, ListReconciliationReports, RunReconciliation."""

from __future__ import annotations

from .base import Part


class ReconciliationApi(Part):
    pass
