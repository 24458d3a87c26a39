"""RequestCardRefund, RequestCardExchange, ApproveAfterSale, RejectAfterSale, GetAfterSale, ListAfterSales."""

from __future__ import annotations

from .base import Part


class AfterSalesApi(Part):
    pass
