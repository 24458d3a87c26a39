"""Operators: ListSubscriptions, GrantSubscription, ListParkedPayments."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import TypeVar

import asyncpg
import grpc

from loyalty.subscription.v1 import resources_pb2 as res
from loyalty.subscription.v1 import subscription_admin_service_pb2 as admin
from services.kit import errors, idempotency, paging, timestamps
from services.kit.errors import Violations
from services.kit.timestamps import to_proto

from ..domain.lifecycle import State
from ..store.parked import ParkedPayment
from . import access
from .base import Part
from .convert import money
from .refunds import reason_of
from .views import subscription_view, subscription_views

MAX_PLAN_ID = 64
MAX_PARK_REASON = 64
MAX_ORDER_REF = 128  # a parked payment's order is the event's reference, not always an id
STATES = {res.SubscriptionState.Value(f"SUBSCRIPTION_STATE_{s.name}"): s.value for s in State}

K = TypeVar("K", str, uuid.UUID)


def _cursor(raw: str | None, kind: Callable[[str], K]) -> tuple[dt.datetime, K] | None:
    """(time, id) of the last item of the previous page, as the page token holds it."""
    if raw is None:
        return None
    at, _, key = raw.partition("\n")
    try:
        when = dt.datetime.fromisoformat(at)
        if when.tzinfo is None:
            raise ValueError("a cursor's time has its offset")
        return when, kind(key)
    except ValueError:
        raise errors.invalid([("page_token", "malformed page token")]) from None


def parked_proto(p: ParkedPayment) -> res.ParkedPayment:
    return res.ParkedPayment(
        event_id=p.event_id,
        payment_id=p.payment_id,
        order_id=p.order_id,
        member_id=p.member_id,
        amount=money(p.amount_minor, p.currency_code),
        reason=p.reason,
        description=p.description,
        park_time=to_proto(p.park_time),
    )


class OperationsApi(Part):
    async def ListSubscriptions(
        self, request: admin.ListSubscriptionsRequest, context: grpc.aio.ServicerContext
    ) -> admin.ListSubscriptionsResponse:
        access.require_any(access.ADMIN)
        v = Violations()
        v.check(request.page_size >= 0, "page_size", "must not be negative")
        member_id = None
        if request.member_id:
            member_id = v.uuid("member_id", request.member_id, "a member id")
        state = None
        if request.state:
            state = STATES.get(request.state)
            v.check(state is not None, "state", "a SubscriptionState")
        v.text("plan_id", request.plan_id, maximum=MAX_PLAN_ID, required=False)
        ends_before = timestamps.field(v, request, "period_end_before")
        v.raise_if_any()
        query = {
            "member_id": request.member_id,
            "state": int(request.state),
            "plan_id": request.plan_id,
            "period_end_before": ends_before.isoformat() if ends_before else "",
        }
        size = paging.size(request.page_size)
        after = _cursor(paging.cursor(request.page_token, query), uuid.UUID)
        async with self.pool.acquire() as conn:
            found = await self.uc.choices.listed(
                conn,
                member_id=member_id,
                state=state,
                plan_id=request.plan_id or None,
                period_end_before=ends_before,
                before=after,
                limit=size + 1,
            )
            found, token = paging.page(
                found,
                size,
                query,
                key=lambda h: f"{h.row.ordered_at.isoformat()}\n{h.subscription_id}",
            )
            views = await subscription_views(self.uc, conn, found)
        return admin.ListSubscriptionsResponse(subscriptions=views, next_page_token=token)

    async def GrantSubscription(
        self, request: admin.GrantSubscriptionRequest, context: grpc.aio.ServicerContext
    ) -> admin.GrantSubscriptionResponse:
        principal = access.require_any(access.ADMIN)
        v = Violations()
        member_id = v.uuid("member_id", request.member_id, "a member id")
        v.text("plan_id", request.plan_id, maximum=MAX_PLAN_ID)
        missing = reason_of(v, request.reason)
        v.raise_if_any("REASON_REQUIRED" if missing else "INVALID_ARGUMENT")

        async def work(conn: asyncpg.Connection) -> admin.GrantSubscriptionResponse:
            held = await self.uc.choices.grant(conn, member_id, request.plan_id)
            given = held.row.terms[-1]
            await access.record(
                conn,
                principal,
                "grant",
                held.subscription_id,
                member_id=str(member_id),
                plan_id=given.plan_id,
                plan_version=given.plan_version,
                term_sequence=given.sequence,
                start_time=given.start_time.isoformat(),
                end_time=given.end_time.isoformat(),
                reason=request.reason,
            )
            view = await subscription_view(self.uc, conn, held)
            return admin.GrantSubscriptionResponse(subscription=view, term=view.terms[-1])

        return await idempotency.once(self.pool, request, work, subject=member_id)

    async def ListParkedPayments(
        self, request: admin.ListParkedPaymentsRequest, context: grpc.aio.ServicerContext
    ) -> admin.ListParkedPaymentsResponse:
        access.require_any(access.ADMIN)
        v = Violations()
        v.check(request.page_size >= 0, "page_size", "must not be negative")
        v.text("reason", request.reason, maximum=MAX_PARK_REASON, required=False)
        v.text("order_id", request.order_id, maximum=MAX_ORDER_REF, required=False)
        v.raise_if_any()
        query = {"reason": request.reason, "order_id": request.order_id}
        size = paging.size(request.page_size)
        after = _cursor(paging.cursor(request.page_token, query), str)
        async with self.pool.acquire() as conn:
            found = await self.uc.choices.parked(
                conn,
                reason=request.reason or None,
                order_id=request.order_id or None,
                before=after,
                limit=size + 1,
            )
        found, token = paging.page(
            found, size, query, key=lambda p: f"{p.park_time.isoformat()}\n{p.event_id}"
        )
        return admin.ListParkedPaymentsResponse(
            payments=[parked_proto(p) for p in found], next_page_token=token
        )
