"""Signing in, refreshing and signing out: access tokens and single-use refresh tokens."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from services.kit import db, errors, ids

from .. import crypto
from ..deps import IdentityDeps
from ..domain import member as rules
from ..domain.tokens import Refresh, on_refresh
from ..store import credentials, refresh_tokens


@dataclass(frozen=True)
class Tokens:
    access_token: str
    refresh_token: str
    access_expires: dt.datetime
    refresh_expires: dt.datetime


async def issue(
    deps: IdentityDeps, conn, member_id: uuid.UUID, family_id: uuid.UUID | None = None
) -> Tokens:
    """A new pair; the refresh token starts a family unless it continues `family_id`."""
    now = deps.now()
    s = deps.settings
    refresh, refresh_hash = crypto.opaque_token()
    refresh_expires = now + dt.timedelta(seconds=s.refresh_ttl_seconds)
    await refresh_tokens.insert(
        conn,
        token_id=ids.new_id(),
        family_id=family_id or ids.new_id(),
        member_id=member_id,
        token_hash=refresh_hash,
        expires_at=refresh_expires,
    )
    access = deps.signer.access_token(
        subject=str(member_id), kind="member", ttl=s.access_ttl_seconds, now=now
    )
    return Tokens(
        access, refresh, now + dt.timedelta(seconds=s.access_ttl_seconds), refresh_expires
    )


async def login(
    deps: IdentityDeps, *, phone: str | None, email: str | None, password: str
) -> tuple[uuid.UUID, Tokens]:
    """The member signed in and its tokens. Every refusal but a lock is INVALID_CREDENTIALS,
    whatever was wrong, so that a caller learns nothing about who is registered."""
    lockout = deps.lockout
    async with db.transaction(deps.pool) as conn:
        credential = await credentials.find(conn, phone=phone, email=email)
        now = deps.now()
        locked_until = credential.locked_until if credential is not None else None
        if locked_until is not None and lockout.is_locked(locked_until, now):
            raise errors.resource_exhausted(
                "CREDENTIAL_LOCKED",
                "too many failed logins; try again later",
                retry_after=lockout.retry_after(locked_until, now),
            )
        stored = credential.password_hash if credential else None
        ok = await deps.passwords.verify(stored, password)
        if ok and credential is not None and rules.is_open(credential.status):
            await credentials.record_login(conn, credential.member_id, 0, None)
            return credential.member_id, await issue(deps, conn, credential.member_id)
        if credential is not None:
            failures, until = lockout.after_failure(credential.failed_logins, now)
            await credentials.record_login(conn, credential.member_id, failures, until)
    # Raised after the commit: the failure count must stick.
    raise errors.unauthenticated("INVALID_CREDENTIALS", "identifier or password is wrong")


async def refresh(deps: IdentityDeps, refresh_token: str) -> Tokens:
    """The next pair of the token's family; the token is used up."""
    async with db.transaction(deps.pool) as conn:
        token = await refresh_tokens.find(conn, crypto.token_hash(refresh_token))
        outcome = on_refresh(token, deps.now())  # INVALID for an unknown token
        if token is not None and outcome is Refresh.ROTATE:
            await refresh_tokens.mark_used(conn, token.token_id)
            return await issue(deps, conn, token.member_id, token.family_id)
        if token is not None and outcome is Refresh.REUSED:
            await refresh_tokens.revoke_family(conn, token.family_id)
    # Raised after the commit: a revoked family stays revoked.
    if outcome is Refresh.REUSED:
        raise errors.unauthenticated(
            "REFRESH_TOKEN_INVALID", "refresh token was already used; sign in again"
        )
    raise errors.unauthenticated("REFRESH_TOKEN_INVALID", "refresh token is invalid or expired")


async def revoke(deps: IdentityDeps, refresh_token: str) -> None:
    """Signing out ends the token's whole family; an unknown token is no error."""
    async with db.transaction(deps.pool) as conn:
        token = await refresh_tokens.find(conn, crypto.token_hash(refresh_token))
        if token is not None:
            await refresh_tokens.revoke_family(conn, token.family_id)
