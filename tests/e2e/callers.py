"""Who calls the suite in the storefront's day, over gRPC only: the operators (a first
administrator made with identity's `create-client` command, then a client per person of the
gift-card back office, whose procedure makes two people meet at every step that moves value)
and the storefront's backend (a service client), each with a token from IssueClientToken; and
the stubs of every service."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import grpc

from loyalty.giftcard.v1 import giftcard_service_pb2 as gpb
from loyalty.giftcard.v1 import giftcard_service_pb2_grpc, wallet_service_pb2_grpc
from loyalty.giftcard.v1 import resources_pb2 as gres
from loyalty.giftcard.v1 import wallet_service_pb2 as wpb
from loyalty.growth.v1 import growth_admin_service_pb2_grpc, growth_service_pb2_grpc
from loyalty.identity.v1 import identity_service_pb2 as ipb
from loyalty.identity.v1 import identity_service_pb2_grpc
from loyalty.identity.v1 import resources_pb2 as ires
from loyalty.points.v1 import points_service_pb2_grpc
from loyalty.subscription.v1 import subscription_admin_service_pb2_grpc as sub_admin_grpc
from loyalty.subscription.v1 import subscription_service_pb2_grpc as sub_grpc
from tests.e2e.suite import Suite

Metadata = tuple[tuple[str, str], ...]

# What each caller may do. The administrator grants only scopes it holds itself.
PEOPLE: dict[str, tuple[ires.ClientKind.ValueType, tuple[str, ...]]] = {
    "mia": (ires.CLIENT_KIND_OPERATOR, ("giftcard:manager", "giftcard:operator")),
    "ray": (ires.CLIENT_KIND_OPERATOR, ("giftcard:requester",)),
    "amy": (ires.CLIENT_KIND_OPERATOR, ("giftcard:approver",)),
    "leo": (ires.CLIENT_KIND_OPERATOR, ("giftcard:loader",)),
    "rui": (ires.CLIENT_KIND_OPERATOR, ("giftcard:reviewer",)),
    "sam": (ires.CLIENT_KIND_OPERATOR, ("giftcard:sales",)),
    "shop": (
        ires.CLIENT_KIND_SERVICE,
        (
            "points:read",
            "points:spend",
            "growth:read",
            "subscription:checkout",
            "giftcard:checkout",
        ),
    ),
}
ADMIN_SCOPES = sorted(
    {
        "identity:read",
        "identity:write",
        "identity:admin",
        "points:read",
        "points:adjust",
        "growth:read",
        "growth:admin",
        "subscription:admin",
        *(scope for _, scopes in PEOPLE.values() for scope in scopes),
    }
)


def uid() -> str:
    return str(uuid.uuid4())


@dataclass
class Callers:
    """Stubs on every service and the callers' metadata (`admin`, `as_("mia")`, `shop`)."""

    suite: Suite
    channels: list[grpc.aio.Channel] = field(default_factory=list)
    tokens: dict[str, Metadata] = field(default_factory=dict)

    def _channel(self, service: str) -> grpc.aio.Channel:
        channel = grpc.aio.insecure_channel(self.suite.grpc(service))
        self.channels.append(channel)
        return channel

    async def __aenter__(self) -> Callers:
        identity, points, growth, subscription, giftcard = (
            self._channel(s) for s in ("identity", "points", "growth", "subscription", "giftcard")
        )
        self.identity = identity_service_pb2_grpc.IdentityServiceStub(identity)
        self.points = points_service_pb2_grpc.PointsServiceStub(points)
        self.growth = growth_service_pb2_grpc.GrowthServiceStub(growth)
        self.growth_admin = growth_admin_service_pb2_grpc.GrowthAdminServiceStub(growth)
        self.subscription = sub_grpc.SubscriptionServiceStub(subscription)
        self.subscription_admin = sub_admin_grpc.SubscriptionAdminServiceStub(subscription)
        self.giftcard = giftcard_service_pb2_grpc.GiftcardServiceStub(giftcard)
        self.wallet = wallet_service_pb2_grpc.WalletServiceStub(giftcard)
        # The first administrator, as the README makes it: the command prints its secret.
        out = await self.suite.command(
            "identity", "create-client", "e2e-admin", "operator", *ADMIN_SCOPES
        )
        self.tokens["admin"] = await self._token("e2e-admin", out.strip().splitlines()[-1])
        for person, (kind, scopes) in PEOPLE.items():
            created = await self.identity.CreateClient(
                ipb.CreateClientRequest(
                    request_id=uid(), client_id=person, kind=kind, scopes=scopes
                ),
                metadata=self.admin,
            )
            self.tokens[person] = await self._token(person, created.client_secret)
        return self

    async def __aexit__(self, *exc: object) -> None:
        for channel in self.channels:
            await channel.close()

    async def _token(self, client_id: str, secret: str) -> Metadata:
        issued = await self.identity.IssueClientToken(
            ipb.IssueClientTokenRequest(client_id=client_id, client_secret=secret)
        )
        return (("authorization", f"Bearer {issued.access_token}"),)

    @property
    def admin(self) -> Metadata:
        return self.tokens["admin"]

    @property
    def shop(self) -> Metadata:
        """The storefront's backend."""
        return self.tokens["shop"]

    def as_(self, person: str) -> Metadata:
        return self.tokens[person]

    # --- the gift-card back office --------------------------------------------------------
    async def sold_card(self, face_minor: int) -> tuple[str, str]:
        """A card of `face_minor` through the whole back-office procedure (product, batch
        requested and approved, cards generated and their secrets exported once, value loaded
        and reviewed, drawn by a sales desk and sold): its number and PIN, ACTIVE."""
        gc = self.giftcard
        product = await gc.CreateProduct(
            gpb.CreateProductRequest(
                request_id=uid(),
                product=gres.Product(
                    display_name=f"Gift card {face_minor // 100}",
                    kind=gres.PRODUCT_KIND_DENOMINATION,
                    currency_code="CNY",
                    face_value_minor=face_minor,
                    validity_months=36,
                    channels=["online"],
                    enabled=True,
                ),
            ),
            metadata=self.as_("mia"),
        )
        product_id = product.product.product_id
        batch = await gc.CreateBatch(
            gpb.CreateBatchRequest(
                request_id=uid(), product_id=product_id, card_count=1, face_value_minor=face_minor
            ),
            metadata=self.as_("ray"),
        )
        batch_id = batch.batch.batch_id
        await gc.ApproveBatch(
            gpb.ApproveBatchRequest(request_id=uid(), batch_id=batch_id), metadata=self.as_("amy")
        )
        await gc.GenerateBatchCards(
            gpb.GenerateBatchCardsRequest(request_id=uid(), batch_id=batch_id),
            metadata=self.as_("mia"),
        )
        secrets = await gc.ExportBatchSecrets(
            gpb.ExportBatchSecretsRequest(request_id=uid(), batch_id=batch_id),
            metadata=self.as_("mia"),
        )
        number, pin = secrets.rows[0].card_number, secrets.rows[0].pin
        load = await gc.LoadCards(
            gpb.LoadCardsRequest(
                request_id=uid(),
                batch_id=batch_id,
                entries=[gpb.LoadEntryInput(card_number=number, amount_minor=face_minor)],
            ),
            metadata=self.as_("leo"),
        )
        await gc.ApproveLoad(
            gpb.ApproveLoadRequest(
                request_id=uid(),
                load_id=load.load.load_id,
                card_count=1,
                total_minor=face_minor,
            ),
            metadata=self.as_("rui"),
        )
        requisition = await gc.CreateRequisition(
            gpb.CreateRequisitionRequest(
                request_id=uid(),
                kind=gres.REQUISITION_KIND_SALES_DESK,
                sales_desk="store-1",
                lines=[
                    gres.RequisitionLine(
                        product_id=product_id, face_value_minor=face_minor, card_count=1
                    )
                ],
            ),
            metadata=self.as_("ray"),
        )
        requisition_id = requisition.requisition.requisition_id
        await gc.ApproveRequisition(
            gpb.ApproveRequisitionRequest(request_id=uid(), requisition_id=requisition_id),
            metadata=self.as_("amy"),
        )
        await gc.FulfilRequisition(
            gpb.FulfilRequisitionRequest(request_id=uid(), requisition_id=requisition_id),
            metadata=self.as_("mia"),
        )
        await gc.CreateSale(
            gpb.CreateSaleRequest(
                request_id=uid(),
                requisition_id=requisition_id,
                card_numbers=[number],
                paid_amount_minor=face_minor,
                payment_method="cash",
            ),
            metadata=self.as_("sam"),
        )
        return number, pin

    async def card_balance(self, number: str, pin: str) -> int:
        checked = await self.wallet.CheckCardBalance(
            wpb.CheckCardBalanceRequest(card=wpb.CardSecret(card_number=number, pin=pin)),
            metadata=self.shop,
        )
        return checked.card.balance_minor
