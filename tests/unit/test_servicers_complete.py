"""Every RPC of a service's proto is served by its servicer (a forgotten one would answer
UNIMPLEMENTED at run time)."""

from __future__ import annotations

import pytest

from loyalty.giftcard.v1 import giftcard_service_pb2, wallet_service_pb2
from loyalty.growth.v1 import growth_admin_service_pb2, growth_service_pb2
from loyalty.identity.v1 import identity_service_pb2
from loyalty.points.v1 import points_service_pb2
from loyalty.subscription.v1 import subscription_admin_service_pb2, subscription_service_pb2
from services.giftcard.api import GiftcardApi, WalletApi
from services.growth.api.servicers import GrowthAdminApi, GrowthApi
from services.identity.api import IdentityApi
from services.points.api import PointsApi
from services.subscription.api import SubscriptionAdminApi, SubscriptionApi


@pytest.mark.parametrize(
    ("servicer", "service"),
    [
        (IdentityApi, identity_service_pb2.DESCRIPTOR.services_by_name["IdentityService"]),
        (PointsApi, points_service_pb2.DESCRIPTOR.services_by_name["PointsService"]),
        (GiftcardApi, giftcard_service_pb2.DESCRIPTOR.services_by_name["GiftcardService"]),
        (WalletApi, wallet_service_pb2.DESCRIPTOR.services_by_name["WalletService"]),
        (
            SubscriptionApi,
            subscription_service_pb2.DESCRIPTOR.services_by_name["SubscriptionService"],
        ),
        (
            SubscriptionAdminApi,
            subscription_admin_service_pb2.DESCRIPTOR.services_by_name["SubscriptionAdminService"],
        ),
        (GrowthApi, growth_service_pb2.DESCRIPTOR.services_by_name["GrowthService"]),
        (
            GrowthAdminApi,
            growth_admin_service_pb2.DESCRIPTOR.services_by_name["GrowthAdminService"],
        ),
    ],
)
def test_every_rpc_is_served(servicer, service):
    # The generated <X>Servicer, whose methods are UNIMPLEMENTED (a servicer may be made of
    # parts, one per concern, before it).
    (generated,) = [c for c in servicer.__mro__ if c.__module__.endswith("_pb2_grpc")]
    missing = [
        m.name for m in service.methods if getattr(servicer, m.name) is getattr(generated, m.name)
    ]
    assert missing == []
