"""GetApprovalPolicy, SetApprovalPolicy."""

from __future__ import annotations

from .base import Part


class PoliciesApi(Part):
    pass
