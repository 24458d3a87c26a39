"""Operators: adjustments of members' points, merchant budgets."""

from __future__ import annotations

import asyncpg
import grpc

from loyalty.points.v1 import points_service_pb2 as pb
from services.kit import auth, idempotency
from services.kit.errors import Violations

from ..usecases import PointsUseCases, Writes
from . import convert, scopes
from .convert import MAX_POINTS


class OperatorsApi:
    def __init__(self, pool: asyncpg.Pool, usecases: PointsUseCases) -> None:
        self.pool = pool
        self.corrections = usecases.corrections
        self.reading = usecases.reading

    async def Adjust(
        self, request: pb.AdjustRequest, context: grpc.aio.ServicerContext
    ) -> pb.AdjustResponse:
        auth.require_scope(scopes.ADJUST)
        v = Violations()
        member_id = v.uuid("member_id", request.member_id, "a member id")
        v.check(request.delta != 0, "delta", "must not be 0")
        v.check(abs(request.delta) <= MAX_POINTS, "delta", f"at most {MAX_POINTS} either way")
        v.text("reason", request.reason, maximum=256)
        v.raise_if_any()

        async def work(conn: asyncpg.Connection) -> idempotency.Pending:
            writes = Writes()
            posted = await self.corrections.operator_adjust(
                conn, member_id, request.delta, request.reason.strip(), writes=writes
            )
            return convert.settled(pb.AdjustResponse(transaction_id=str(posted.txn_id)), writes)

        return await idempotency.once(self.pool, request, work)

    async def TopUpMerchantBudget(
        self, request: pb.TopUpMerchantBudgetRequest, context: grpc.aio.ServicerContext
    ) -> pb.TopUpMerchantBudgetResponse:
        auth.require_scope(scopes.ADMIN)
        v = Violations()
        convert.check_merchant(v, "merchant_id", request.merchant_id)
        convert.check_points(v, "points", request.points)
        v.raise_if_any()

        async def work(conn: asyncpg.Connection) -> pb.TopUpMerchantBudgetResponse:
            topped = await self.corrections.top_up(conn, request.merchant_id, request.points)
            return pb.TopUpMerchantBudgetResponse(
                transaction_id=str(topped.txn_id), budget=convert.budget_proto(topped.budget)
            )

        return await idempotency.once(self.pool, request, work)

    async def GetMerchantBudget(
        self, request: pb.GetMerchantBudgetRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetMerchantBudgetResponse:
        auth.require_scope(scopes.READ)
        v = Violations()
        convert.check_merchant(v, "merchant_id", request.merchant_id)
        v.raise_if_any()
        budget = await self.reading.budget(request.merchant_id)
        return pb.GetMerchantBudgetResponse(budget=convert.budget_proto(budget))
