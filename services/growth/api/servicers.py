"""The two servicers, each built from one part per concern."""

from __future__ import annotations

from loyalty.growth.v1 import growth_admin_service_pb2_grpc, growth_service_pb2_grpc

from .admin import RuleSetsApi, SettlementsApi
from .members import MemberGrowthApi
from .rehearsals import RehearsalsApi


class GrowthApi(MemberGrowthApi, growth_service_pb2_grpc.GrowthServiceServicer):
    """Members and storefronts."""


class GrowthAdminApi(
    RuleSetsApi,
    SettlementsApi,
    RehearsalsApi,
    growth_admin_service_pb2_grpc.GrowthAdminServiceServicer,
):
    """Operators."""
