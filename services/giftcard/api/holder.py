"""CheckCardBalance, BindCard, UnbindCard, ListMemberCards, ListCardEntries, ReportCardLost, CancelCardLossReport."""

from __future__ import annotations

from .base import Part


class HolderApi(Part):
    pass
