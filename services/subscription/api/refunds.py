"""Operators: GetRefundQuote, RefundSubscription."""

from __future__ import annotations

from .base import Part


class RefundsApi(Part):
    pass
