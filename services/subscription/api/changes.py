"""ChangePlan: now (an upgrade, paid as a PLAN_CHANGE order) or at the next renewal (the
member's own subscription, or a storefront's checkout acting for it)."""

from __future__ import annotations

import asyncpg
import grpc

from loyalty.subscription.v1 import resources_pb2 as res
from loyalty.subscription.v1 import subscription_service_pb2 as pb
from services.kit import idempotency
from services.kit.errors import Violations

from ..usecases.changes import NOW
from . import access
from .base import Part
from .convert import COLLECTIONS, order_proto
from .views import subscription_view

MAX_PLAN_ID = 64
TIMINGS = {res.PLAN_CHANGE_TIMING_NOW: "now", res.PLAN_CHANGE_TIMING_AT_RENEWAL: "at_renewal"}


class PlanChangesApi(Part):
    async def ChangePlan(
        self, request: pb.ChangePlanRequest, context: grpc.aio.ServicerContext
    ) -> pb.ChangePlanResponse:
        principal = access.member_or_scope(access.CHECKOUT)
        v = Violations()
        subscription_id = v.uuid("subscription_id", request.subscription_id, "a subscription id")
        v.text("plan_id", request.plan_id, maximum=MAX_PLAN_ID)
        timing = TIMINGS.get(request.timing)
        v.check(timing is not None, "timing", "NOW or AT_RENEWAL")
        collection = COLLECTIONS.get(request.collection)
        v.check(collection is not None, "collection", "PROVIDER or STOREFRONT (unset: PROVIDER)")
        v.raise_if_any()
        assert collection is not None

        async def work(conn: asyncpg.Connection) -> pb.ChangePlanResponse:
            if timing == NOW:
                order, held = await self.uc.changes.order_now(
                    conn, principal, subscription_id, request.plan_id, collection
                )
                return pb.ChangePlanResponse(
                    subscription=await subscription_view(self.uc, conn, held),
                    order=order_proto(order),
                )
            held = await self.uc.changes.schedule(conn, principal, subscription_id, request.plan_id)
            return pb.ChangePlanResponse(subscription=await subscription_view(self.uc, conn, held))

        return await idempotency.once(self.pool, request, work)
