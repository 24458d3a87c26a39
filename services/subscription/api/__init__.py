"""The subscription servicers, each built from one part per concern (api/<concern>.py): a
part's methods are the RPCs of its concern, and each authorises, checks sizes, validates, calls
one use case and converts its answer to proto. An RPC no part defines answers UNIMPLEMENTED."""

from __future__ import annotations

from loyalty.subscription.v1 import (
    subscription_admin_service_pb2_grpc,
    subscription_service_pb2_grpc,
)

from .benefits import BenefitsApi
from .changes import PlanChangesApi
from .choices import ChoicesApi
from .code_batches import CodeBatchesApi
from .codes import CodesApi
from .operations import OperationsApi
from .orders import OrdersApi
from .perks import PerksApi
from .plans import PlanAdminApi, PlansApi
from .purchases import PurchasesApi
from .refunds import RefundsApi
from .subscriptions import SubscriptionsApi


class SubscriptionApi(
    PlansApi,
    PurchasesApi,
    OrdersApi,
    SubscriptionsApi,
    ChoicesApi,
    PlanChangesApi,
    CodesApi,
    BenefitsApi,
    subscription_service_pb2_grpc.SubscriptionServiceServicer,
):
    """Members and storefronts: plans, purchases and payments, subscriptions and the member's
    choices, codes, benefits."""


class SubscriptionAdminApi(
    PlanAdminApi,
    OperationsApi,
    RefundsApi,
    CodeBatchesApi,
    PerksApi,
    subscription_admin_service_pb2_grpc.SubscriptionAdminServiceServicer,
):
    """Operators: plans, subscriptions, refunds, code batches, perk pools, parked payments."""
