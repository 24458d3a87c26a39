"""CreateBatch, GetBatch, ListBatches, ApproveBatch, RejectBatch, GenerateBatchCards, ExportBatchSecrets, RecoverBatchExport."""

from __future__ import annotations

from .base import Part


class BatchesApi(Part):
    pass
