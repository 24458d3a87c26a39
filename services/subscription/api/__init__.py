"""The subscription servicers, each built from one part per concern (api/<concern>.py): a
part's methods are the RPCs of its concern, and each authorises, checks sizes, validates, calls
one use case and converts its answer to proto. An RPC no part defines answers UNIMPLEMENTED."""

from __future__ import annotations

from loyalty.subscription.v1 import (
    subscription_admin_service_pb2_grpc,
    subscription_service_pb2_grpc,
)

from .plans import PlanAdminApi, PlansApi
from .purchases import PurchasesApi
from .subscriptions import SubscriptionsApi


class SubscriptionApi(
    PlansApi,
    PurchasesApi,
    SubscriptionsApi,
    subscription_service_pb2_grpc.SubscriptionServiceServicer,
):
    """Members and storefronts: plans, purchases and payments, subscriptions."""


class SubscriptionAdminApi(
    PlanAdminApi,
    subscription_admin_service_pb2_grpc.SubscriptionAdminServiceServicer,
):
    """Operators: plans."""
