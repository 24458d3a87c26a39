"""The identity process: keys, JWKS on the ops port, the gRPC API."""

from __future__ import annotations

from pathlib import Path

import asyncpg
from aiohttp import web

from services.kit import auth, errors, outbox, ratelimit
from services.kit.jobs import Job
from services.kit.service import ServiceApp

from . import api, crypto, verification
from .config import IdentitySettings
from .deps import IdentityDeps
from .domain import clients as client_rules
from .usecases import clients, codes, keys, sessions


class IdentityApp(ServiceApp[IdentitySettings]):
    settings_class = IdentitySettings
    migrations = Path(__file__).parent / "migrations"
    deps: IdentityDeps

    def make_deps(self) -> IdentityDeps:
        return IdentityDeps(self.settings, outbox.Outbox(self.name))

    async def setup(self) -> None:
        s, deps = self.settings, self.deps
        deps.vault = crypto.Vault(s.data_key.get_secret_value(), s.lookup_key.get_secret_value())
        deps.passwords = crypto.Passwords(
            s.argon2_time_cost, s.argon2_memory_kib, s.argon2_parallelism
        )
        deps.signer = await keys.load_signer(deps)
        deps.limiter = ratelimit.RateLimiter(deps.pool, deps.now)
        self._keys = auth.KeySet()
        self._keys.load(deps.signer.jwks())

    async def start(self, *, relay: bool = True, consume: bool = True, schedule: bool = True):
        """Serving needs the outside systems (commands do not): without a code sender identity
        refuses to start, before anything opens (errors.Misconfigured, one line)."""
        self.deps.codes = verification.code_sender(self.settings)
        self.deps.assertions = verification.assertion_verifier(self.settings)
        await super().start(relay=relay, consume=consume, schedule=schedule)

    # Tests and benchmarks mint tokens and read encrypted columns through the app.
    @property
    def signer(self) -> crypto.Signer:
        return self.deps.signer

    @property
    def vault(self) -> crypto.Vault:
        return self.deps.vault

    def key_set(self) -> auth.KeySet:
        return self._keys  # identity verifies with its own keys, no HTTP round trip

    def servicers(self) -> list[object]:
        return [api.IdentityApi(self.deps)]

    def jobs(self) -> list[Job]:
        async def forget_old_sources(_pool: asyncpg.Pool) -> None:
            await sessions.forget_old_sources(self.deps)

        async def forget_expired_codes(_pool: asyncpg.Pool) -> None:
            await codes.forget_expired(self.deps)

        return [
            Job("identity-login-sources", 3600, forget_old_sources),
            Job("identity-verification-codes", 600, forget_expired_codes),
        ]

    def http_routes(self) -> list[web.RouteDef]:
        async def jwks(_request):
            return web.json_response(
                self.deps.signer.jwks(), headers={"Cache-Control": "public, max-age=300"}
            )

        return [web.get("/.well-known/jwks.json", jwks)]


async def rotate_signing_key(app: IdentityApp) -> None:
    """Add a new signing key; tokens signed by older live keys stay valid until they expire."""
    print(await keys.rotate(app.deps))


async def create_client(app: IdentityApp, *args: str) -> None:
    """CLIENT_ID operator|service SCOPE... : create a client (the first administrator) holding the scopes and print its secret, shown only this once."""
    if len(args) < 3:
        raise SystemExit("create-client: usage: create-client CLIENT_ID operator|service SCOPE...")
    client_id, kind, *scopes = args
    problems = client_rules.definition_problems(client_id, kind, scopes)
    if problems:
        raise SystemExit(f"create-client: {'; '.join(problems)}")
    try:
        secret = await clients.bootstrap(app.deps, client_id, kind, scopes)
    except errors.AppError as exc:  # the id is taken
        raise SystemExit(f"create-client: {exc.message}: {client_id}") from None
    print(secret)
