"""LoadCards, GetLoad, ListLoads, ListLoadEntries, ApproveLoad, RejectLoad."""

from __future__ import annotations

from .base import Part


class LoadsApi(Part):
    pass
