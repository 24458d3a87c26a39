"""Who calls the suite over gRPC, as its users do: `Stubs`, a stub of every service's API, and
`Callers`, which adds the callers' tokens from IssueClientToken: the first administrator (made
with identity's `create-client` command, as the README makes one), then a client per person of
the gift-card back office, whose procedure makes two people meet at every step that moves value
(it refuses a maker who is also the checker), and the storefront's backend (a service client).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from google.protobuf.message import Message

from loyalty.giftcard.v1 import giftcard_service_pb2_grpc, wallet_service_pb2_grpc
from loyalty.growth.v1 import growth_admin_service_pb2_grpc, growth_service_pb2_grpc
from loyalty.identity.v1 import identity_service_pb2 as ipb
from loyalty.identity.v1 import identity_service_pb2_grpc
from loyalty.identity.v1 import resources_pb2 as ires
from loyalty.points.v1 import points_service_pb2_grpc
from loyalty.subscription.v1 import subscription_admin_service_pb2_grpc as sub_admin_grpc
from loyalty.subscription.v1 import subscription_service_pb2_grpc as sub_grpc

Metadata = tuple[tuple[str, str], ...]
# Client id → (kind, scopes).
People = dict[str, tuple[ires.ClientKind.ValueType, tuple[str, ...]]]
# `invoke(method, request, metadata)`: a call of a stub's method and its answer. The callers'
# own calls go through it: once (`call_once`), or asked again while the suite is away.
Invoke = Callable[[Callable[..., Awaitable[Any]], Message, Metadata], Awaitable[Any]]

# The gift-card back office, a person per role (giftcards.py has each do their part).
MANAGER, REQUESTER, APPROVER, LOADER, REVIEWER, SALES = "mia", "ray", "amy", "leo", "rui", "sam"
BACK_OFFICE: dict[str, tuple[str, ...]] = {
    MANAGER: ("giftcard:manager", "giftcard:operator"),
    REQUESTER: ("giftcard:requester",),
    APPROVER: ("giftcard:approver",),
    LOADER: ("giftcard:loader",),
    REVIEWER: ("giftcard:reviewer",),
    SALES: ("giftcard:sales",),
}
SHOP = "shop"  # the storefront's backend
STOREFRONT_SCOPES = (
    "points:read",
    "points:spend",
    "growth:read",
    "subscription:checkout",
    "giftcard:checkout",
)


def people(prefix: str = "", **more: tuple[str, ...]) -> People:
    """The back office's people (and `more` operators, name → scopes) and the storefront's
    backend, by client id (`prefix` + name), with what each may do."""
    found: People = {
        prefix + name: (ires.CLIENT_KIND_OPERATOR, scopes)
        for name, scopes in {**BACK_OFFICE, **more}.items()
    }
    found[prefix + SHOP] = (ires.CLIENT_KIND_SERVICE, STOREFRONT_SCOPES)
    return found


def admin_scopes(people: People, *own: str) -> list[str]:
    """The administrator's scopes: `own`, and every scope it grants (it grants only scopes it
    holds itself)."""
    return sorted({*own, *(scope for _, scopes in people.values() for scope in scopes)})


PEOPLE = people()
# What the administrator does besides creating the clients: verify members, credit points,
# manage plans and rule sets, read the cards' journals.
ADMIN_SCOPES = admin_scopes(
    PEOPLE,
    "identity:read",
    "identity:write",
    "identity:admin",
    "points:read",
    "points:adjust",
    "growth:read",
    "growth:admin",
    "subscription:admin",
    "giftcard:finance",
)


def uid() -> str:
    """A new request id."""
    return str(uuid.uuid4())


def create_admin_command(client_id: str, scopes: list[str] = ADMIN_SCOPES) -> tuple[str, ...]:
    """identity's command (`python -m services.identity ARGS`) making the first administrator;
    it prints the client's secret on its last line (`printed_secret`)."""
    return ("create-client", client_id, "operator", *scopes)


def printed_secret(out: str) -> str:
    return out.strip().splitlines()[-1]


async def call_once(
    method: Callable[..., Awaitable[Any]], request: Message, metadata: Metadata = ()
) -> Any:
    return await method(request, metadata=metadata)


class Stubs:
    """A stub of every service's API, a channel per service (`address(service)`: host:port)."""

    # The stubs' attributes (`by_name`).
    NAMES = ("identity", "points", "growth", "growth_admin", "subscription", "subscription_admin",
             "giftcard", "wallet")  # fmt: skip

    def __init__(self, address: Callable[[str], str]) -> None:
        self.channels = {
            name: grpc.aio.insecure_channel(address(name))
            for name in ("identity", "points", "growth", "subscription", "giftcard")
        }
        identity, points, growth, subscription, giftcard = self.channels.values()
        self.identity = identity_service_pb2_grpc.IdentityServiceStub(identity)
        self.points = points_service_pb2_grpc.PointsServiceStub(points)
        self.growth = growth_service_pb2_grpc.GrowthServiceStub(growth)
        self.growth_admin = growth_admin_service_pb2_grpc.GrowthAdminServiceStub(growth)
        self.subscription = sub_grpc.SubscriptionServiceStub(subscription)
        self.subscription_admin = sub_admin_grpc.SubscriptionAdminServiceStub(subscription)
        self.giftcard = giftcard_service_pb2_grpc.GiftcardServiceStub(giftcard)
        self.wallet = wallet_service_pb2_grpc.WalletServiceStub(giftcard)

    def by_name(self) -> dict[str, Any]:
        """The stubs by their attribute names (`identity`, `growth_admin`, `wallet`, …)."""
        return {name: getattr(self, name) for name in self.NAMES}

    async def close(self) -> None:
        for channel in self.channels.values():
            await channel.close()


class Callers(Stubs):
    """The stubs and the callers' metadata: `admin`, `shop`, `as_(person)` (after `sign_in`).
    Their calls here go through `invoke`."""

    def __init__(
        self, address: Callable[[str], str], invoke: Invoke = call_once, shop: str = SHOP
    ) -> None:
        super().__init__(address)
        self.invoke = invoke
        self.shop_client = shop
        self.tokens: dict[str, Metadata] = {}

    async def sign_in(self, admin: str, admin_secret: str, people: People = PEOPLE) -> None:
        """The administrator's token (its client made by `create_admin_command`), then a new
        client and a token for every one of `people`."""
        self.tokens["admin"] = await self.token(admin, admin_secret)
        for person, (kind, scopes) in people.items():
            request = ipb.CreateClientRequest(
                request_id=uid(), client_id=person, kind=kind, scopes=scopes
            )
            created = await self.invoke(self.identity.CreateClient, request, self.admin)
            self.tokens[person] = await self.token(person, created.client_secret)

    async def token(self, client_id: str, secret: str) -> Metadata:
        """A client's metadata with a new token."""
        request = ipb.IssueClientTokenRequest(client_id=client_id, client_secret=secret)
        issued = await self.invoke(self.identity.IssueClientToken, request, ())
        return (("authorization", f"Bearer {issued.access_token}"),)

    @property
    def admin(self) -> Metadata:
        return self.tokens["admin"]

    @property
    def shop(self) -> Metadata:
        """The storefront's backend."""
        return self.tokens[self.shop_client]

    def as_(self, person: str) -> Metadata:
        return self.tokens[person]
