"""The giftcard servicers, each built from one part per concern (api/<concern>.py): a part's
methods are the RPCs of its concern, and each authorises, checks sizes, validates, calls one use
case and converts its answer to proto."""

from __future__ import annotations

from loyalty.giftcard.v1 import giftcard_service_pb2_grpc, wallet_service_pb2_grpc

from .after_sales import AfterSalesApi
from .batches import BatchesApi
from .bonus import BonusApi
from .cards import CardsApi
from .checkout import CheckoutApi
from .holder import HolderApi
from .loads import LoadsApi
from .policies import PoliciesApi
from .products import ProductsApi
from .reconciliation import ReconciliationApi
from .requisitions import RequisitionsApi
from .sales import SalesApi
from .stored_value import StoredValueApi


class GiftcardApi(
    ProductsApi,
    PoliciesApi,
    BatchesApi,
    LoadsApi,
    RequisitionsApi,
    SalesApi,
    CardsApi,
    AfterSalesApi,
    BonusApi,
    ReconciliationApi,
    giftcard_service_pb2_grpc.GiftcardServiceServicer,
):
    """The back office: products, batches, loads, requisitions, sales, cards, after-sale,
    stored-value administration, reconciliation."""


class WalletApi(
    HolderApi,
    CheckoutApi,
    StoredValueApi,
    wallet_service_pb2_grpc.WalletServiceServicer,
):
    """Card holders, members and checkout: cards by number and PIN, bound cards, holds,
    orders, stored value."""
