"""GetBonusPolicy, SetBonusPolicy, RefundTopUp."""

from __future__ import annotations

from .base import Part


class BonusApi(Part):
    pass
