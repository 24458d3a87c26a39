"""Operators: GetRefundQuote, RefundSubscription."""

from __future__ import annotations

import asyncpg
import grpc

from loyalty.subscription.v1 import subscription_admin_service_pb2 as admin
from services.kit import idempotency
from services.kit.errors import Violations

from . import access
from .base import Part
from .convert import refund_proto
from .views import subscription_view

MAX_REASON = 512


def reason_of(v: Violations, value: str, *, required: bool = True) -> bool:
    """Check an operator's reason (1 to 512 characters, no control character); True when it
    is missing where required (the error's reason is then REASON_REQUIRED)."""
    missing = required and not value.strip()
    if missing:
        v.add("reason", "a reason is required")
    else:
        v.text("reason", value, maximum=MAX_REASON, required=False)
    return missing


class RefundsApi(Part):
    async def GetRefundQuote(
        self, request: admin.GetRefundQuoteRequest, context: grpc.aio.ServicerContext
    ) -> admin.GetRefundQuoteResponse:
        access.require_any(access.ADMIN)
        v = Violations()
        subscription_id = v.uuid("subscription_id", request.subscription_id, "a subscription id")
        v.raise_if_any()
        async with self.pool.acquire() as conn:
            _, quote = await self.uc.refunds.quote(conn, subscription_id)
        return admin.GetRefundQuoteResponse(quote=refund_proto(quote))

    async def RefundSubscription(
        self, request: admin.RefundSubscriptionRequest, context: grpc.aio.ServicerContext
    ) -> admin.RefundSubscriptionResponse:
        principal = access.require_any(access.ADMIN)
        v = Violations()
        subscription_id = v.uuid("subscription_id", request.subscription_id, "a subscription id")
        missing = reason_of(v, request.reason)
        v.raise_if_any("REASON_REQUIRED" if missing else "INVALID_ARGUMENT")

        async def work(conn: asyncpg.Connection) -> admin.RefundSubscriptionResponse:
            held, refund = await self.uc.refunds.refund(
                conn, subscription_id, principal.label, request.reason
            )
            await access.record(
                conn,
                principal,
                "refund",
                held.subscription_id,
                member_id=str(held.row.member_id),
                refund_id=str(refund.refund_id),
                amount_minor=refund.amount_minor,
                currency_code=refund.currency_code,
                full_refund=refund.full_refund,
                reason=request.reason,
            )
            return admin.RefundSubscriptionResponse(
                refund=refund_proto(refund),
                subscription=await subscription_view(self.uc, conn, held),
            )

        return await idempotency.once(self.pool, request, work)
