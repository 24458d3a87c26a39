"""Who calls the suite in the storefront's day, over gRPC only (tools/suite/callers.py): the
operators (a first administrator made with identity's `create-client` command, then a client
per person of the gift-card back office) and the storefront's backend (a service client), each
with a token from IssueClientToken; and the stubs of every service."""

from __future__ import annotations

from loyalty.giftcard.v1 import wallet_service_pb2 as wpb
from tests.e2e.suite import Suite
from tools.suite import callers, giftcards

ADMIN = "e2e-admin"


class Callers(callers.Callers):
    """Stubs on every service and the callers' metadata (`admin`, `as_("mia")`, `shop`),
    entered with `async with`."""

    def __init__(self, suite: Suite) -> None:
        super().__init__(suite.grpc)
        self.suite = suite

    async def __aenter__(self) -> Callers:
        # The first administrator, as the README makes it: the command prints its secret.
        out = await self.suite.command("identity", *callers.create_admin_command(ADMIN))
        await self.sign_in(ADMIN, callers.printed_secret(out))
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def sold_card(self, face_minor: int) -> tuple[str, str]:
        """A card of `face_minor` through the whole back-office procedure: its number and
        PIN, ACTIVE."""
        (card,) = await giftcards.sold_cards(self, 1, face_minor, f"Gift card {face_minor // 100}")
        return card

    async def card_balance(self, number: str, pin: str) -> int:
        checked = await self.wallet.CheckCardBalance(
            wpb.CheckCardBalanceRequest(card=wpb.CardSecret(card_number=number, pin=pin)),
            metadata=self.shop,
        )
        return checked.card.balance_minor
