"""Bearer tokens issued by identity, verified from its published keys (JWKS), cached."""

from __future__ import annotations

import asyncio
import contextvars
import time
import uuid
from dataclasses import dataclass, field
from typing import Protocol

import aiohttp
import jwt

from . import errors

ALGORITHM = "EdDSA"


@dataclass(frozen=True)
class Principal:
    """Who is calling: a member, an operator or a service, with scopes."""

    subject: str
    kind: str  # member | operator | service
    scopes: frozenset[str] = field(default_factory=frozenset)
    roles: frozenset[str] = field(default_factory=frozenset)

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes

    @property
    def label(self) -> str:
        """How audit trails and journals name the caller: `member:<id>`, `operator:<client>`."""
        return f"{self.kind}:{self.subject}"

    def owns(self, member_id: object) -> bool:
        """Whether the caller may see what belongs to `member_id`: a member only its own
        things; operators and services (their scopes checked before) everything."""
        return self.kind != "member" or self.subject == str(member_id)


current: contextvars.ContextVar[Principal | None] = contextvars.ContextVar(
    "principal", default=None
)


def actor(default: str = "system") -> str:
    """The caller's label for an audit trail; `default` when no one called (an event, a job)."""
    principal = current.get()
    return principal.label if principal else default


def require() -> Principal:
    principal = current.get()
    if principal is None:
        raise errors.unauthenticated()
    return principal


def require_scope(scope: str) -> Principal:
    principal = require()
    if principal.kind == "member" or not principal.has_scope(scope):
        raise errors.permission_denied("MISSING_SCOPE", f"requires scope {scope}")
    return principal


def require_member_or_scope(member_id: object, scope: str) -> Principal:
    """A member acts only on itself; operators and services need the scope."""
    principal = require()
    if principal.kind == "member":
        if principal.subject != str(member_id):
            raise errors.permission_denied("NOT_OWNER", "a member may act only on itself")
        return principal
    if not principal.has_scope(scope):
        raise errors.permission_denied("MISSING_SCOPE", f"requires scope {scope}")
    return principal


def member_target(raw_member_id: str, scope: str) -> uuid.UUID:
    """The member a call acts on: authenticated, then authorised (an operator or a service
    needs `scope`; a member may act only on itself), the id parsed in between — so nothing of
    a request is read before the caller is known to be allowed to send it."""
    require_owner_or_scope(scope)  # no token, or a client without the scope
    member_id = errors.parse_uuid(raw_member_id)
    require_member_or_scope(member_id, scope)  # another member's id
    return member_id


def require_owner_or_scope(scope: str) -> Principal:
    """For a call on a thing found by its own id (a hold, a card): a member may call, and is
    checked with `Principal.owns` once the thing is read; others need the scope first.
    A thing of another member is answered as NOT_FOUND, never as someone else's."""
    principal = require()
    if principal.kind != "member" and not principal.has_scope(scope):
        raise errors.permission_denied("MISSING_SCOPE", f"requires scope {scope}")
    return principal


class KeySet:
    """Public keys by key id, refreshed from a JWKS URL at most every `min_refresh` seconds."""

    def __init__(self, url: str | None = None, ttl: float = 300, min_refresh: float = 5) -> None:
        self.url = url
        self.ttl = ttl
        self.min_refresh = min_refresh
        self._keys: dict[str, object] = {}
        self._fetched = float("-inf")  # never fetched: the first miss always fetches
        self._failed = False  # the last fetch failed: an unknown key may be one we cannot see
        self._lock = asyncio.Lock()

    def load(self, jwks: dict) -> None:
        self._keys = {k.key_id: k.key for k in jwt.PyJWKSet.from_dict(jwks).keys if k.key_id}
        self._fetched = time.monotonic()

    async def get(self, kid: str):
        """The key, or None when identity does not know it. UNAVAILABLE when the keys could not
        be fetched (identity away): the token may be fine, so the caller should retry."""
        key = self._keys.get(kid)
        stale = time.monotonic() - self._fetched > self.ttl
        if (key is None or stale) and self.url:
            await self._refresh(force=key is None)
            key = self._keys.get(kid)
            if key is None and self._failed:
                raise errors.unavailable(
                    "KEYS_UNAVAILABLE", "the token's signing keys cannot be fetched yet", 2
                )
        return key

    async def _refresh(self, force: bool) -> None:
        async with self._lock:
            age = time.monotonic() - self._fetched
            if age < self.min_refresh or (not force and age < self.ttl):
                return
            if self.url is None:
                return
            try:
                timeout = aiohttp.ClientTimeout(total=3)
                async with (
                    aiohttp.ClientSession(timeout=timeout) as session,
                    session.get(self.url) as response,
                ):
                    response.raise_for_status()
                    self.load(await response.json())
                self._failed = False
            except aiohttp.ClientResponseError as exc:
                # Identity answered: a 4xx says there are no such keys there (a wrong URL), so
                # tokens stay unverifiable; a 5xx says it is in trouble and may come back.
                self._failed = exc.status >= 500
                self._fetched = time.monotonic()
            except (aiohttp.ClientError, TimeoutError, ValueError, jwt.PyJWTError):
                self._failed = True
                self._fetched = time.monotonic()  # do not hammer a down identity service


class DenyList(Protocol):
    """Revoked tokens (kit.revocations): whether a token of `principal` issued at `issued_at`
    (epoch seconds, its `iat`) is void."""

    def refuses(self, principal: Principal, issued_at: float) -> bool: ...


class Verifier:
    """Verifies access tokens; a verified token is remembered until it expires, so a client
    calling many times with one token pays for the signature check once. The deny list is
    asked on every call, remembered tokens included: a revoked token is `TOKEN_REVOKED`."""

    def __init__(
        self,
        keys: KeySet,
        issuer: str,
        audience: str,
        cache_size: int = 10_000,
        revoked: DenyList | None = None,
    ) -> None:
        self.keys = keys
        self.issuer = issuer
        self.audience = audience
        self.cache_size = cache_size
        self.revoked = revoked
        self._verified: dict[str, tuple[Principal, float, float]] = {}

    async def verify(self, token: str) -> Principal:
        hit = self._verified.get(token)
        if hit is not None and hit[1] > time.time():
            principal, _, issued = hit
        else:
            principal, expires, issued = await self._verify(token)
            if len(self._verified) >= self.cache_size:
                self._verified.pop(next(iter(self._verified)))  # oldest first: dicts keep order
            self._verified[token] = (principal, expires, issued)
        if self.revoked is not None and self.revoked.refuses(principal, issued):
            raise errors.unauthenticated("TOKEN_REVOKED", "the token was revoked; sign in again")
        return principal

    async def _verify(self, token: str) -> tuple[Principal, float, float]:
        try:
            kid = jwt.get_unverified_header(token).get("kid", "")
        except jwt.PyJWTError as exc:
            raise errors.unauthenticated("INVALID_TOKEN", "malformed token") from exc
        key = await self.keys.get(kid)
        if key is None:
            raise errors.unauthenticated("INVALID_TOKEN", "unknown signing key")
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=self.audience,
                issuer=self.issuer,
                options={"require": ["exp", "sub", "iat"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise errors.unauthenticated("TOKEN_EXPIRED", "token expired") from exc
        except jwt.PyJWTError as exc:
            raise errors.unauthenticated("INVALID_TOKEN", "invalid token") from exc
        if claims.get("typ") != "access":
            raise errors.unauthenticated("INVALID_TOKEN", "not an access token")
        principal = Principal(
            subject=claims["sub"],
            kind=claims.get("kind", "member"),
            scopes=frozenset(claims.get("scope", "").split()),
            roles=frozenset(claims.get("roles", [])),
        )
        return principal, float(claims["exp"]), float(claims["iat"])
