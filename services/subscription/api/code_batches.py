"""Operators: redemption code batches, exported once."""

from __future__ import annotations

from .base import Part


class CodeBatchesApi(Part):
    pass
