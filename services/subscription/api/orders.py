"""GetSubscriptionOrder, ListSubscriptionOrders (the member's own, a storefront's checkout, an
operator's) and CancelSubscriptionOrder (the member left the cashier)."""

from __future__ import annotations

import datetime as dt
import uuid

import asyncpg
import grpc

from loyalty.subscription.v1 import resources_pb2 as res
from loyalty.subscription.v1 import subscription_service_pb2 as pb
from services.kit import errors, idempotency, paging
from services.kit.errors import Violations

from ..store.orders import OrderFilter
from . import access
from .base import Part
from .convert import order_proto

ORDER_STATES = {
    res.ORDER_STATE_PENDING_PAYMENT: "pending_payment",
    res.ORDER_STATE_PAID: "paid",
    res.ORDER_STATE_FAILED: "failed",
    res.ORDER_STATE_EXPIRED: "expired",
    res.ORDER_STATE_CANCELLED: "cancelled",
}
ORDER_KINDS = {
    res.ORDER_KIND_PURCHASE: "purchase",
    res.ORDER_KIND_RENEWAL: "renewal",
    res.ORDER_KIND_PLAN_CHANGE: "plan_change",
}


def _cursor(token: str, query: dict) -> tuple[dt.datetime, uuid.UUID] | None:
    """A page starts after (create_time, order_id), kept in the token as one string."""
    after = paging.cursor(token, query)
    if after is None:
        return None
    at, _, order_id = after.partition("|")
    try:
        return dt.datetime.fromisoformat(at), uuid.UUID(order_id)
    except ValueError as exc:
        raise errors.invalid([("page_token", "malformed page token")]) from exc


class OrdersApi(Part):
    async def GetSubscriptionOrder(
        self, request: pb.GetSubscriptionOrderRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetSubscriptionOrderResponse:
        principal = access.member_or_scope(access.CHECKOUT, access.ADMIN)
        order_id = errors.parse_uuid(request.order_id, "order_id", "an order id")
        async with self.pool.acquire() as conn:
            order = await self.uc.purchases.get_order(conn, order_id)
        if order is None or not principal.owns(order.member_id):
            raise errors.not_found("order", str(order_id))
        return pb.GetSubscriptionOrderResponse(order=order_proto(order))

    async def ListSubscriptionOrders(
        self, request: pb.ListSubscriptionOrdersRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListSubscriptionOrdersResponse:
        principal = access.member_or_scope(access.CHECKOUT, access.ADMIN)
        v = Violations()
        member_id = None
        if request.member_id or not principal.has_scope(access.ADMIN):
            member_id = v.uuid("member_id", request.member_id, "a member id")
        subscription_id = None
        if request.subscription_id:
            subscription_id = v.uuid(
                "subscription_id", request.subscription_id, "a subscription id"
            )
        state = ORDER_STATES.get(request.state)
        v.check(
            request.state == res.ORDER_STATE_UNSPECIFIED or state is not None,
            "state",
            "an order state (unset: any)",
        )
        kind = ORDER_KINDS.get(request.kind)
        v.check(
            request.kind == res.ORDER_KIND_UNSPECIFIED or kind is not None,
            "kind",
            "an order kind (unset: any)",
        )
        v.check(request.page_size >= 0, "page_size", "must not be negative")
        v.raise_if_any()
        if member_id is not None and not principal.owns(member_id):
            raise errors.permission_denied("NOT_OWNER", "a member may act only on itself")
        size = paging.size(request.page_size)
        query = {
            "member_id": str(member_id or ""),
            "subscription_id": str(subscription_id or ""),
            "state": state or "",
            "kind": kind or "",
        }
        after = _cursor(request.page_token, query)
        where = OrderFilter(member_id, subscription_id, state, kind)
        async with self.pool.acquire() as conn:
            rows = await self.uc.purchases.list_orders(conn, where, after, size + 1)
        rows, token = paging.page(
            rows, size, query, key=lambda o: f"{o.create_time.isoformat()}|{o.order_id}"
        )
        return pb.ListSubscriptionOrdersResponse(
            orders=[order_proto(o) for o in rows], next_page_token=token
        )

    async def CancelSubscriptionOrder(
        self, request: pb.CancelSubscriptionOrderRequest, context: grpc.aio.ServicerContext
    ) -> pb.CancelSubscriptionOrderResponse:
        principal = access.member_or_scope(access.CHECKOUT)
        order_id = errors.parse_uuid(request.order_id, "order_id", "an order id")

        async def work(conn: asyncpg.Connection) -> pb.CancelSubscriptionOrderResponse:
            order = await self.uc.purchases.cancel_order(conn, principal, order_id)
            return pb.CancelSubscriptionOrderResponse(order=order_proto(order))

        return await idempotency.once(self.pool, request, work)
