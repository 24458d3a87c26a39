"""CreateRequisition, GetRequisition, ListRequisitions, ApproveRequisition, RejectRequisition, CancelRequisition, FulfilRequisition, ReturnRequisitionCards."""

from __future__ import annotations

from .base import Part


class RequisitionsApi(Part):
    pass
