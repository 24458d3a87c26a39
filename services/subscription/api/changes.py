"""ChangePlan: now (an upgrade, paid as a PLAN_CHANGE order) or at the next renewal (the
member's own subscription, or a storefront's checkout acting for it)."""

from __future__ import annotations

import datetime as dt

import asyncpg
import grpc

from loyalty.subscription.v1 import resources_pb2 as res
from loyalty.subscription.v1 import subscription_service_pb2 as pb
from services.kit import idempotency
from services.kit.errors import Violations
from services.kit.timestamps import to_proto

from ..usecases.changes import NOW, PendingChange
from ..usecases.records import Held
from . import access
from .base import Part
from .convert import COLLECTIONS, order_proto, subscription_proto

MAX_PLAN_ID = 64
TIMINGS = {res.PLAN_CHANGE_TIMING_NOW: "now", res.PLAN_CHANGE_TIMING_AT_RENEWAL: "at_renewal"}


def pending_proto(change: PendingChange) -> res.PendingPlanChange:
    return res.PendingPlanChange(
        plan_id=change.plan_id,
        plan_version=change.plan_version,
        timing=(
            res.PLAN_CHANGE_TIMING_NOW
            if change.timing == NOW
            else res.PLAN_CHANGE_TIMING_AT_RENEWAL
        ),
        order_id=str(change.order_id) if change.order_id else "",
        request_time=to_proto(change.request_time),
    )


class PlanChangesApi(Part):
    @property
    def _lead(self) -> dt.timedelta:
        return dt.timedelta(seconds=self.deps.settings.renewal_lead_seconds)

    async def _subscription(self, conn, held: Held) -> res.Subscription:
        """The subscription with the change waiting for the next renewal or a payment."""
        proto = subscription_proto(held, self.deps.now(), self._lead)
        pending = await self.uc.changes.pending(conn, held)
        if pending is not None:
            proto.pending_plan_change.CopyFrom(pending_proto(pending))
        return proto

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
                    subscription=await self._subscription(conn, held), order=order_proto(order)
                )
            held = await self.uc.changes.schedule(conn, principal, subscription_id, request.plan_id)
            return pb.ChangePlanResponse(subscription=await self._subscription(conn, held))

        return await idempotency.once(self.pool, request, work)
