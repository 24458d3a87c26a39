"""Earning: daily sign-in and grants under earning rules."""

from __future__ import annotations

import asyncpg
import grpc

from loyalty.points.v1 import points_service_pb2 as pb
from services.kit import auth, idempotency, timestamps
from services.kit.errors import Violations

from ..usecases import PointsUseCases, Writes
from . import convert, scopes


class EarningApi:
    def __init__(self, pool: asyncpg.Pool, usecases: PointsUseCases) -> None:
        self.pool = pool
        self.earning = usecases.earning

    async def SignIn(
        self, request: pb.SignInRequest, context: grpc.aio.ServicerContext
    ) -> pb.SignInResponse:
        member_id = auth.member_target(request.member_id, scopes.GRANT)

        async def work(conn: asyncpg.Connection) -> pb.SignInResponse:
            signed = await self.earning.sign_in(conn, member_id)
            return pb.SignInResponse(
                transaction_id=str(signed.posted.txn_id),
                points=signed.posted.points,
                streak_days=signed.streak,
                balance=convert.balance_proto(signed.balance),
            )

        return await idempotency.once(self.pool, request, work)

    async def Grant(
        self, request: pb.GrantRequest, context: grpc.aio.ServicerContext
    ) -> pb.GrantResponse:
        auth.require_scope(scopes.GRANT)
        v = Violations()
        member_id = v.uuid("member_id", request.member_id, "a member id")
        v.text("rule_code", request.rule_code, maximum=64)
        points = request.points if request.HasField("points") else None
        if points is not None:
            convert.check_points(v, "points", points)
        v.text("reference", request.reference, maximum=128, required=False)
        convert.check_merchant(v, "merchant_id", request.merchant_id, required=False)
        v.raise_if_any()

        async def work(conn: asyncpg.Connection) -> idempotency.Pending:
            writes = Writes()
            posted = await self.earning.grant(
                conn,
                member_id,
                request.rule_code,
                points,
                reference=request.reference,
                merchant_id=request.merchant_id,
                writes=writes,
            )
            response = pb.GrantResponse(
                transaction_id=str(posted.txn_id),
                points=posted.points,
                expire_time=timestamps.to_proto(posted.expires_at),
            )
            return convert.settled(response, writes)

        return await idempotency.once(self.pool, request, work)
