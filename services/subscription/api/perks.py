"""Operators: perk pools, their codes and inventory."""

from __future__ import annotations

from .base import Part


class PerksApi(Part):
    pass
