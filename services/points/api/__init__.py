"""gRPC PointsService: parse, authorise, validate, call a use case, convert to proto.

Each concern is one part (reading, earning, spending, operators, rules); `PointsApi` hands
every RPC to the part that serves it.
"""

from __future__ import annotations

import grpc

from loyalty.points.v1 import points_service_pb2 as pb
from loyalty.points.v1 import points_service_pb2_grpc as pb_grpc
from services.kit.deps import Deps

from ..config import PointsSettings
from ..usecases import PointsUseCases
from .earning import EarningApi
from .operators import OperatorsApi
from .reading import ReadingApi
from .rules import RulesApi
from .spending import SpendingApi


class PointsApi(pb_grpc.PointsServiceServicer):
    def __init__(self, deps: Deps[PointsSettings], usecases: PointsUseCases) -> None:
        pool = deps.pool
        self.reading = ReadingApi(usecases)
        self.earning = EarningApi(pool, usecases)
        self.spending = SpendingApi(pool, usecases)
        self.operators = OperatorsApi(pool, usecases)
        self.rules = RulesApi(pool, usecases)

    # --- reading -----------------------------------------------------------------------------
    async def GetBalance(
        self, request: pb.GetBalanceRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetBalanceResponse:
        return await self.reading.GetBalance(request, context)

    async def ListLedgerEntries(
        self, request: pb.ListLedgerEntriesRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListLedgerEntriesResponse:
        return await self.reading.ListLedgerEntries(request, context)

    async def GetHold(
        self, request: pb.GetHoldRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetHoldResponse:
        return await self.reading.GetHold(request, context)

    async def GetOrder(
        self, request: pb.GetOrderRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetOrderResponse:
        return await self.reading.GetOrder(request, context)

    # --- earning -----------------------------------------------------------------------------
    async def SignIn(
        self, request: pb.SignInRequest, context: grpc.aio.ServicerContext
    ) -> pb.SignInResponse:
        return await self.earning.SignIn(request, context)

    async def Grant(
        self, request: pb.GrantRequest, context: grpc.aio.ServicerContext
    ) -> pb.GrantResponse:
        return await self.earning.Grant(request, context)

    # --- spending ----------------------------------------------------------------------------
    async def ReserveHold(
        self, request: pb.ReserveHoldRequest, context: grpc.aio.ServicerContext
    ) -> pb.ReserveHoldResponse:
        return await self.spending.ReserveHold(request, context)

    async def CaptureHold(
        self, request: pb.CaptureHoldRequest, context: grpc.aio.ServicerContext
    ) -> pb.CaptureHoldResponse:
        return await self.spending.CaptureHold(request, context)

    async def ReleaseHold(
        self, request: pb.ReleaseHoldRequest, context: grpc.aio.ServicerContext
    ) -> pb.ReleaseHoldResponse:
        return await self.spending.ReleaseHold(request, context)

    async def Redeem(
        self, request: pb.RedeemRequest, context: grpc.aio.ServicerContext
    ) -> pb.RedeemResponse:
        return await self.spending.Redeem(request, context)

    # --- operators ---------------------------------------------------------------------------
    async def Adjust(
        self, request: pb.AdjustRequest, context: grpc.aio.ServicerContext
    ) -> pb.AdjustResponse:
        return await self.operators.Adjust(request, context)

    async def TopUpMerchantBudget(
        self, request: pb.TopUpMerchantBudgetRequest, context: grpc.aio.ServicerContext
    ) -> pb.TopUpMerchantBudgetResponse:
        return await self.operators.TopUpMerchantBudget(request, context)

    async def GetMerchantBudget(
        self, request: pb.GetMerchantBudgetRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetMerchantBudgetResponse:
        return await self.operators.GetMerchantBudget(request, context)

    # --- rules -------------------------------------------------------------------------------
    async def UpsertEarningRule(
        self, request: pb.UpsertEarningRuleRequest, context: grpc.aio.ServicerContext
    ) -> pb.UpsertEarningRuleResponse:
        return await self.rules.UpsertEarningRule(request, context)

    async def GetEarningRule(
        self, request: pb.GetEarningRuleRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetEarningRuleResponse:
        return await self.rules.GetEarningRule(request, context)

    async def ListEarningRules(
        self, request: pb.ListEarningRulesRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListEarningRulesResponse:
        return await self.rules.ListEarningRules(request, context)
