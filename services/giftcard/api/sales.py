"""CreateSale, GetSale, ListSales, CheckSale."""

from __future__ import annotations

from .base import Part


class SalesApi(Part):
    pass
