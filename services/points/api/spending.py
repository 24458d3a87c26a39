"""Spending: checkout holds (reserve, capture, release) and redemptions."""

from __future__ import annotations

import asyncpg
import grpc

from loyalty.points.v1 import points_service_pb2 as pb
from services.kit import auth, errors, idempotency
from services.kit.errors import Violations

from ..usecases import PointsUseCases, Writes
from . import convert, scopes


class SpendingApi:
    def __init__(self, pool: asyncpg.Pool, usecases: PointsUseCases) -> None:
        self.pool = pool
        self.spending = usecases.spending

    async def ReserveHold(
        self, request: pb.ReserveHoldRequest, context: grpc.aio.ServicerContext
    ) -> pb.ReserveHoldResponse:
        member_id = auth.member_target(request.member_id, scopes.SPEND)
        v = Violations()
        v.text("order_id", request.order_id, maximum=128)
        convert.check_points(v, "points", request.points)
        v.check(request.order_amount_minor > 0, "order_amount_minor", "must be positive")
        v.raise_if_any()

        async def work(conn: asyncpg.Connection) -> idempotency.Pending:
            writes = Writes()
            hold = await self.spending.reserve(
                conn,
                member_id,
                request.order_id,
                request.points,
                request.order_amount_minor,
                writes=writes,
            )
            return convert.settled(pb.ReserveHoldResponse(hold=convert.hold_proto(hold)), writes)

        return await idempotency.once(self.pool, request, work)

    async def CaptureHold(
        self, request: pb.CaptureHoldRequest, context: grpc.aio.ServicerContext
    ) -> pb.CaptureHoldResponse:
        auth.require_scope(scopes.SPEND)
        hold_id = errors.parse_uuid(request.hold_id, "hold_id", "a hold id")

        async def work(conn: asyncpg.Connection) -> idempotency.Pending:
            writes = Writes()
            captured = await self.spending.capture(conn, hold_id, writes=writes)
            response = pb.CaptureHoldResponse(
                transaction_id=str(captured.txn_id), hold=convert.hold_proto(captured.hold)
            )
            return convert.settled(response, writes)

        return await idempotency.once(self.pool, request, work)

    async def ReleaseHold(
        self, request: pb.ReleaseHoldRequest, context: grpc.aio.ServicerContext
    ) -> pb.ReleaseHoldResponse:
        principal = auth.require_owner_or_scope(scopes.SPEND)
        hold_id = errors.parse_uuid(request.hold_id, "hold_id", "a hold id")

        async def work(conn: asyncpg.Connection) -> pb.ReleaseHoldResponse:
            released = await self.spending.release_for(conn, hold_id, principal.owns)
            return pb.ReleaseHoldResponse(
                hold=convert.hold_proto(released.hold),
                balance=convert.balance_proto(released.balance),
            )

        return await idempotency.once(self.pool, request, work)

    async def Redeem(
        self, request: pb.RedeemRequest, context: grpc.aio.ServicerContext
    ) -> pb.RedeemResponse:
        member_id = auth.member_target(request.member_id, scopes.SPEND)
        v = Violations()
        convert.check_points(v, "points", request.points)
        v.text("catalogue_item", request.catalogue_item, maximum=128)
        v.text("reference", request.reference, maximum=128, required=False)
        v.raise_if_any()

        async def work(conn: asyncpg.Connection) -> idempotency.Pending:
            writes = Writes()
            posted = await self.spending.redeem(
                conn,
                member_id,
                request.points,
                request.catalogue_item,
                request.reference,
                writes=writes,
            )
            return convert.settled(pb.RedeemResponse(transaction_id=str(posted.txn_id)), writes)

        return await idempotency.once(self.pool, request, work)
