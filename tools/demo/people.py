"""Who seeds the demo: tools/suite's callers (the first administrator, made with identity's
`create-client` command as the README makes one; the gift-card back office, a client per person;
the storefront's backend), named `demo-…`, and finance, who re-checks the sales. Their secrets
are shown once: the demo keeps them in its secrets file and takes new tokens from them in every
run, where tools/suite makes new clients."""

from __future__ import annotations

import secrets
import uuid

import grpc

from loyalty.identity.v1 import identity_service_pb2 as ipb
from loyalty.identity.v1 import resources_pb2 as ires
from tools.suite import callers as suite

from .target import CommandFailed, Metadata, Secrets, Target, call, ident, reason

PREFIX = "demo-"
ADMIN = f"{PREFIX}admin"
ADMIN_ID = "admin"  # the secrets file's key naming the administrator's client id
MANAGER, REQUESTER, APPROVER, LOADER, REVIEWER, SALES = (
    PREFIX + person
    for person in (
        suite.MANAGER,
        suite.REQUESTER,
        suite.APPROVER,
        suite.LOADER,
        suite.REVIEWER,
        suite.SALES,
    )
)
FINANCE = f"{PREFIX}fay"
SHOP = PREFIX + suite.SHOP
PEOPLE = suite.people(PREFIX, fay=("giftcard:finance",))


class Callers(suite.Callers):
    """The stubs (retrying what the suite asks to retry) and the callers' metadata, signed in
    on entering (`async with`)."""

    def __init__(self, target: Target, kept: Secrets) -> None:
        super().__init__(target.grpc.__getitem__, invoke=call, shop=SHOP)
        self.target = target
        self.secrets = kept

    async def __aenter__(self) -> Callers:
        try:
            await self._sign_in()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _sign_in(self) -> None:
        clients = self.secrets.data["clients"]
        if ADMIN_ID not in clients:
            admin, secret = await self._first_administrator()
            clients.update({ADMIN_ID: admin, admin: secret})
            self.secrets.save()
        admin = clients[ADMIN_ID]
        self.tokens["admin"] = await self._token(admin, clients[admin])
        for person, (kind, scopes) in PEOPLE.items():
            if person not in clients:
                clients[person] = await self._new_client(person, kind, scopes)
                self.secrets.save()
            self.tokens[person] = await self._token(person, clients[person])

    async def _first_administrator(self) -> tuple[str, str]:
        """The administrator, as the README makes the first one: the command prints its
        secret. If the demo's is there already (its secret lost with the secrets file), another
        takes its place."""
        for client_id in (ADMIN, f"{ADMIN}-{secrets.token_hex(3)}"):
            try:
                out = await self.target.command("identity", *suite.create_admin_command(client_id))
            except CommandFailed as exc:
                if "taken" not in str(exc):
                    raise
                continue
            return client_id, suite.printed_secret(out)
        raise AssertionError("unreachable")

    async def _new_client(
        self, person: str, kind: ires.ClientKind.ValueType, scopes: tuple[str, ...]
    ) -> str:
        """A client's secret: a new client's, or a new secret when the client is there
        already (a run whose secrets file was lost)."""
        request = ipb.CreateClientRequest(
            request_id=ident(0, "client", person), client_id=person, kind=kind, scopes=scopes
        )
        try:
            created = await call(self.identity.CreateClient, request, self.admin)
            if created.client_secret:
                return created.client_secret
        except grpc.aio.AioRpcError as exc:
            if reason(exc) != "CLIENT_ALREADY_EXISTS":
                raise
        rotate = ipb.RotateClientSecretRequest(request_id=str(uuid.uuid4()), client_id=person)
        return (await call(self.identity.RotateClientSecret, rotate, self.admin)).client_secret

    async def _token(self, client_id: str, secret: str) -> Metadata:
        try:
            return await self.token(client_id, secret)
        except grpc.aio.AioRpcError as exc:
            if reason(exc) != "INVALID_CLIENT_CREDENTIALS":
                raise
            raise SystemExit(
                f"the suite refuses the demo's client {client_id} with the secret kept in "
                f"{self.target.secrets_file}: was that file made against other databases?"
            ) from None
