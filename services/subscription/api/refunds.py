"""Operators: GetRefundQuote, RefundSubscription. And what every answer of this concern shows of
a subscription beside its row: its refund and who turned its auto-renew off."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import asyncpg
import grpc

from loyalty.subscription.v1 import resources_pb2 as res
from loyalty.subscription.v1 import subscription_admin_service_pb2 as admin
from services.kit import idempotency
from services.kit.errors import Violations
from services.kit.timestamps import to_proto

from ..store.refunds import RefundRow
from ..usecases import SubscriptionUseCases
from ..usecases.records import Held
from . import access
from .base import Part
from .convert import money, subscription_proto, text

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


def refund_proto(r: RefundRow) -> res.Refund:
    return res.Refund(
        refund_id=text(r.refund_id),
        subscription_id=str(r.subscription_id),
        amount=money(r.amount_minor, r.currency_code),
        full_refund=r.full_refund,
        paid_value=money(r.paid_minor, r.currency_code),
        share_value=money(r.share_minor, r.currency_code),
        benefits_used=money(r.used_value_minor, r.currency_code),
        claims_counted=r.claims_counted,
        payments=[
            res.RefundPayment(
                order_id=text(p.order_id),
                payment_id=p.payment_id,
                amount=money(p.amount_minor, r.currency_code),
            )
            for p in r.payments
        ],
        refund_time=to_proto(r.refund_time),
        refunded_by=r.refunded_by,
        reason=r.reason,
        term_sequences=list(r.term_sequences),
    )


async def subscription_views(
    uc: SubscriptionUseCases, conn, found: Sequence[Held], now: dt.datetime
) -> list[res.Subscription]:
    """The subscriptions as the API shows them, with their refund and cancellation."""
    lead = dt.timedelta(seconds=uc.deps.settings.renewal_lead_seconds)
    refunds, cancellations = await uc.refunds.details(conn, [h.subscription_id for h in found])
    views = []
    for held in found:
        view = subscription_proto(held, now, lead)
        refund = refunds.get(held.subscription_id)
        if refund is not None:
            view.refund.CopyFrom(refund_proto(refund))
        cancellation = cancellations.get(held.subscription_id)
        if cancellation is not None:
            view.cancel_time.FromDatetime(cancellation.cancel_time)
            view.cancelled_by = cancellation.cancelled_by
        views.append(view)
    return views


async def subscription_view(uc: SubscriptionUseCases, conn, held: Held) -> res.Subscription:
    (view,) = await subscription_views(uc, conn, [held], uc.deps.now())
    return view


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
