"""GetStoredValue, ListStoredValueEntries, CreateTopUp, ConfirmTopUp, GetTopUp."""

from __future__ import annotations

from .base import Part


class StoredValueApi(Part):
    pass
