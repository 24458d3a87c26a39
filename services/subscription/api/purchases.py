"""CreateSubscriptionOrder (the member or a storefront's checkout) and ConfirmPayment (a
storefront's checkout or an operator)."""

from __future__ import annotations

import re

import asyncpg
import grpc

from loyalty.subscription.v1 import subscription_service_pb2 as pb
from services.kit import idempotency
from services.kit.errors import Violations

from ..usecases.purchases import NotApplied
from . import access
from .base import Part
from .convert import COLLECTIONS, order_proto
from .views import subscription_view

MAX_PLAN_ID = 64
MAX_PAYMENT_ID = 128
MAX_AMOUNT_MINOR = 10**12
_CURRENCY = re.compile(r"[A-Z]{3}")


class PurchasesApi(Part):
    async def CreateSubscriptionOrder(
        self, request: pb.CreateSubscriptionOrderRequest, context: grpc.aio.ServicerContext
    ) -> pb.CreateSubscriptionOrderResponse:
        member_id = access.member_target(request.member_id, access.CHECKOUT)
        principal = access.member_or_scope(access.CHECKOUT)
        v = Violations()
        v.text("plan_id", request.plan_id, maximum=MAX_PLAN_ID)
        collection = COLLECTIONS.get(request.collection)
        v.check(collection is not None, "collection", "PROVIDER or STOREFRONT (unset: PROVIDER)")
        v.raise_if_any()
        assert collection is not None

        async def work(conn: asyncpg.Connection) -> pb.CreateSubscriptionOrderResponse:
            order, held = await self.uc.purchases.order(
                conn, member_id, request.plan_id, collection, principal.label
            )
            return pb.CreateSubscriptionOrderResponse(
                order=order_proto(order),
                subscription=await subscription_view(self.uc, conn, held),
            )

        return await idempotency.once(self.pool, request, work)

    async def ConfirmPayment(
        self, request: pb.ConfirmPaymentRequest, context: grpc.aio.ServicerContext
    ) -> pb.ConfirmPaymentResponse:
        access.require_any(access.CHECKOUT, access.ADMIN)
        v = Violations()
        order_id = v.uuid("order_id", request.order_id, "an order id")
        v.text("payment_id", request.payment_id, maximum=MAX_PAYMENT_ID)
        amount = request.amount
        v.check(
            0 <= amount.amount_minor <= MAX_AMOUNT_MINOR,
            "amount.amount_minor",
            f"0 to {MAX_AMOUNT_MINOR}",
        )
        v.check(
            bool(_CURRENCY.fullmatch(amount.currency_code)),
            "amount.currency_code",
            "an ISO 4217 code such as CNY",
        )
        v.raise_if_any()

        async def work(conn: asyncpg.Connection) -> pb.ConfirmPaymentResponse:
            outcome = await self.uc.purchases.pay(
                conn, order_id, request.payment_id, amount.amount_minor, amount.currency_code
            )
            if isinstance(outcome, NotApplied):
                raise outcome.error
            return pb.ConfirmPaymentResponse(
                order=order_proto(outcome.order),
                subscription=await subscription_view(self.uc, conn, outcome.held),
            )

        return await idempotency.once(self.pool, request, work)
