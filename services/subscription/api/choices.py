"""StartTrial, CancelSubscription, ResumeSubscription."""

from __future__ import annotations

import asyncpg
import grpc

from loyalty.subscription.v1 import subscription_service_pb2 as pb
from services.kit import auth, idempotency
from services.kit.errors import Violations

from . import access
from .base import Part
from .refunds import reason_of
from .views import subscription_view

MAX_PLAN_ID = 64


def acts_as_operator(principal: auth.Principal) -> bool:
    """An operator's token, or a service's without the checkout scope (so holding the admin
    one): its cancel needs a reason, and is audited."""
    if principal.kind == "operator":
        return True
    return principal.kind != "member" and not principal.has_scope(access.CHECKOUT)


class ChoicesApi(Part):
    async def StartTrial(
        self, request: pb.StartTrialRequest, context: grpc.aio.ServicerContext
    ) -> pb.StartTrialResponse:
        member_id = access.member_target(request.member_id, access.CHECKOUT)
        v = Violations()
        v.text("plan_id", request.plan_id, maximum=MAX_PLAN_ID)
        v.raise_if_any()

        async def work(conn: asyncpg.Connection) -> pb.StartTrialResponse:
            held = await self.uc.choices.start_trial(conn, member_id, request.plan_id)
            return pb.StartTrialResponse(subscription=await subscription_view(self.uc, conn, held))

        return await idempotency.once(self.pool, request, work, subject=member_id)

    async def CancelSubscription(
        self, request: pb.CancelSubscriptionRequest, context: grpc.aio.ServicerContext
    ) -> pb.CancelSubscriptionResponse:
        principal = access.member_or_scope(access.CHECKOUT, access.ADMIN)
        operator = acts_as_operator(principal)
        v = Violations()
        subscription_id = v.uuid("subscription_id", request.subscription_id, "a subscription id")
        missing = reason_of(v, request.reason, required=operator)
        v.raise_if_any("REASON_REQUIRED" if missing else "INVALID_ARGUMENT")

        async def work(conn: asyncpg.Connection) -> pb.CancelSubscriptionResponse:
            held = await self.uc.choices.cancel(
                conn,
                subscription_id,
                principal,
                "operator" if operator else "member",
                request.reason,
            )
            if operator:
                await access.record(
                    conn,
                    principal,
                    "cancel",
                    held.subscription_id,
                    member_id=str(held.row.member_id),
                    reason=request.reason,
                )
            return pb.CancelSubscriptionResponse(
                subscription=await subscription_view(self.uc, conn, held)
            )

        return await idempotency.once(self.pool, request, work)

    async def ResumeSubscription(
        self, request: pb.ResumeSubscriptionRequest, context: grpc.aio.ServicerContext
    ) -> pb.ResumeSubscriptionResponse:
        principal = access.member_or_scope(access.CHECKOUT)
        v = Violations()
        subscription_id = v.uuid("subscription_id", request.subscription_id, "a subscription id")
        v.raise_if_any()

        async def work(conn: asyncpg.Connection) -> pb.ResumeSubscriptionResponse:
            held = await self.uc.choices.resume(conn, subscription_id, principal)
            return pb.ResumeSubscriptionResponse(
                subscription=await subscription_view(self.uc, conn, held)
            )

        return await idempotency.once(self.pool, request, work)
