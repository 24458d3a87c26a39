"""GetSubscription, GetMemberSubscription: the member's own, or a storefront's checkout or an
operator's."""

from __future__ import annotations

import grpc

from loyalty.subscription.v1 import subscription_service_pb2 as pb
from services.kit import errors

from . import access
from .base import Part
from .views import subscription_view


class SubscriptionsApi(Part):
    async def GetSubscription(
        self, request: pb.GetSubscriptionRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetSubscriptionResponse:
        principal = access.member_or_scope(access.CHECKOUT, access.ADMIN)
        subscription_id = errors.parse_uuid(
            request.subscription_id, "subscription_id", "a subscription id"
        )
        async with self.pool.acquire() as conn:
            held = await self.uc.subscriptions.get(conn, subscription_id)
            if held is None or not principal.owns(held.row.member_id):
                raise errors.not_found("subscription", str(subscription_id))
            return pb.GetSubscriptionResponse(
                subscription=await subscription_view(self.uc, conn, held)
            )

    async def GetMemberSubscription(
        self, request: pb.GetMemberSubscriptionRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetMemberSubscriptionResponse:
        member_id = access.member_target(request.member_id, access.CHECKOUT, access.ADMIN)
        async with self.pool.acquire() as conn:
            held, trial_used = await self.uc.subscriptions.of_member(conn, member_id)
            return pb.GetMemberSubscriptionResponse(
                subscription=await subscription_view(self.uc, conn, held) if held else None,
                trial_used=trial_used,
            )
