"""GetSubscriptionOrder, ListSubscriptionOrders, CancelSubscriptionOrder."""

from __future__ import annotations

from .base import Part


class OrdersApi(Part):
    pass
