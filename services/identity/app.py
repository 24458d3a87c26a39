"""The identity process: keys, JWKS on the ops port, the gRPC API."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from services.kit import audit, auth, db
from services.kit.service import ServiceApp

from . import api, crypto, store
from .config import IdentitySettings
from .verification import FormatVerifier


class IdentityApp(ServiceApp[IdentitySettings]):
    settings_class = IdentitySettings
    migrations = Path(__file__).parent / "migrations"

    async def setup(self) -> None:
        s = self.settings
        self.vault = crypto.Vault(s.data_key.get_secret_value(), s.lookup_key.get_secret_value())
        self.passwords = crypto.Passwords(
            s.argon2_time_cost, s.argon2_memory_kib, s.argon2_parallelism
        )
        self.real_name_verifier = FormatVerifier()
        self._keys = auth.KeySet()
        await self.load_keys()

    async def load_keys(self) -> None:
        """Sign with the newest live key; create one on first start."""
        async with db.transaction(self.pool) as conn:
            kid, pem = crypto.new_signing_key()
            await store.add_signing_key_if_none(conn, kid, self.vault.encrypt(pem, kid.encode()))
            rows = await store.live_signing_keys(conn)
        keys = [(r["kid"], self.vault.decrypt(r["private_enc"], r["kid"].encode())) for r in rows]
        self.signer = crypto.Signer(keys, self.settings.jwt_issuer, self.settings.jwt_audience)
        self._keys.load(self.signer.jwks())

    def key_set(self) -> auth.KeySet:
        return self._keys  # identity verifies with its own keys, no HTTP round trip

    def servicers(self) -> list[object]:
        return [api.IdentityApi(self)]

    def http_routes(self) -> list[web.RouteDef]:
        async def jwks(_request):
            return web.json_response(
                self.signer.jwks(), headers={"Cache-Control": "public, max-age=300"}
            )

        return [web.get("/.well-known/jwks.json", jwks)]


async def rotate_signing_key(app: IdentityApp) -> None:
    """Add a new signing key; tokens signed by older live keys stay valid until they expire."""
    kid, pem = crypto.new_signing_key()
    async with db.transaction(app.pool) as conn:
        await store.add_signing_key(conn, kid, app.vault.encrypt(pem, kid.encode()))
    print(kid)


async def create_client(app: IdentityApp, client_id: str, kind: str, *scopes: str) -> None:
    """Bootstrap an operator or service credential; prints its secret once."""
    secret, secret_hash = crypto.opaque_token()
    async with db.transaction(app.pool) as conn:
        await store.insert_client(
            conn,
            client_id=client_id,
            kind=kind,
            secret_hash=secret_hash,
            scopes=sorted(set(scopes)),
            roles=[],
            display_name=client_id,
        )
        await audit.record(
            conn,
            actor="cli",
            action="client.create",
            subject=client_id,
            detail={"client_id": client_id, "scopes": sorted(set(scopes))},
        )
    print(secret)
