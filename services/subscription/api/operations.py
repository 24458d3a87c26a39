"""Operators: ListSubscriptions, GrantSubscription, ListParkedPayments."""

from __future__ import annotations

from .base import Part


class OperationsApi(Part):
    pass
