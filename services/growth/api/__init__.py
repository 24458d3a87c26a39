"""The growth service's gRPC API: the servicers, each built from one part per concern
(api/<concern>.py): a part's methods are the RPCs of its concern, and each authorises, checks
sizes, validates, calls one use case and converts its answer to proto. An RPC no part defines
answers UNIMPLEMENTED."""

from __future__ import annotations

from typing import TYPE_CHECKING

from loyalty.growth.v1 import growth_admin_service_pb2_grpc, growth_service_pb2_grpc

from .admin import RuleSetsApi, SettlementsApi
from .members import MemberGrowthApi
from .rehearsals import RehearsalsApi

if TYPE_CHECKING:
    from ..deps import GrowthDeps
    from ..usecases import GrowthUseCases


class GrowthApi(MemberGrowthApi, growth_service_pb2_grpc.GrowthServiceServicer):
    """Members and storefronts."""


class GrowthAdminApi(
    RuleSetsApi,
    SettlementsApi,
    RehearsalsApi,
    growth_admin_service_pb2_grpc.GrowthAdminServiceServicer,
):
    """Operators."""


def servicers(deps: GrowthDeps, usecases: GrowthUseCases) -> list[object]:
    return [GrowthApi(deps, usecases), GrowthAdminApi(deps, usecases)]
