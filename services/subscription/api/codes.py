"""RedeemCode."""

from __future__ import annotations

from .base import Part


class CodesApi(Part):
    pass
