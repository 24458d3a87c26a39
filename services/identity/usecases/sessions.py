"""Signing in, refreshing and signing out: access tokens and single-use refresh tokens."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from loyalty.identity.v1 import events_pb2 as ev
from services.kit import db, errors, ids, timestamps

from .. import crypto
from ..deps import IdentityDeps
from ..domain import member as rules
from ..domain.codes import Purpose
from ..domain.tokens import Refresh, on_refresh
from ..store import credentials, refresh_tokens
from ..store.credentials import Credential
from . import codes


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


@dataclass(frozen=True)
class Attempt:
    """A login attempt: the identifier as normalised (one of phone and e-mail), the password,
    and the caller's source (kit.ratelimit.source)."""

    phone: str | None
    email: str | None
    password: str
    source: str


async def login(deps: IdentityDeps, attempt: Attempt) -> tuple[uuid.UUID, Tokens]:
    """The member signed in and its tokens. Every refusal is INVALID_CREDENTIALS, whatever was
    wrong, or RATE_LIMITED once the failures of the account (known or not: an unknown identifier
    is counted as an account) or of the source reach a limit, so that a caller learns nothing
    about who is registered.

    No connection is held while the password is checked: the credential is read, the attempt
    counted as a failure in advance (concurrent guesses cannot overrun a limit), the password
    verified, and only a success writes, in a short transaction, and uncounts the attempt."""
    s, limits = deps.settings, deps.limits
    source = deps.pseudonym("source", attempt.source)
    since = deps.now() - dt.timedelta(days=s.login_known_source_days)
    credential = await credentials.find(
        deps.pool, phone=attempt.phone, email=attempt.email, source=source, since=since
    )
    if credential is not None:
        account = f"member:{credential.member_id}"
    else:
        account = deps.pseudonym("identifier", attempt.phone or attempt.email or "")
    known = credential is not None and credential.known_source
    from_source = f"{account}|{source}"
    taken = await deps.limiter.take(
        (limits.login_account(known_source=known), account),
        (limits.login_account_and_source_minute, from_source),
        (limits.login_account_and_source_hour, from_source),
        (limits.login_source, source),
    )
    stored = credential.password_hash if credential else None
    if await deps.passwords.verify(stored, attempt.password) and credential is not None:
        tokens = await _sign_in(deps, credential, source)
        if tokens is not None:
            # Only failures count; the source knew the password, so its failures are forgotten.
            await deps.limiter.give_back(taken)
            await deps.limiter.clear(
                (limits.login_account_and_source_minute, from_source),
                (limits.login_account_and_source_hour, from_source),
            )
            return credential.member_id, tokens
    raise errors.unauthenticated("INVALID_CREDENTIALS", "identifier or password is wrong")


def _wrong_code() -> errors.AppError:
    return errors.unauthenticated("INVALID_CREDENTIALS", "identifier or code is wrong")


async def login_with_code(
    deps: IdentityDeps, address: codes.Address, code: str, source: str
) -> tuple[uuid.UUID, Tokens]:
    """The member signed in with a code sent to its phone number or e-mail address (purpose
    SIGN_IN) instead of its password. Every refusal is INVALID_CREDENTIALS, as for passwords:
    an unknown address answers like a wrong code. Guessing is bounded by the code's tries
    and by the sends allowed per address and per caller (see codes.send)."""
    proof = await codes.check(deps, address, Purpose.SIGN_IN, code)
    source = deps.pseudonym("source", source)
    since = deps.now() - dt.timedelta(days=deps.settings.login_known_source_days)
    phone, email = (address.value, None) if address.channel == "sms" else (None, address.value)
    credential = await credentials.find(
        deps.pool, phone=phone, email=email, source=source, since=since
    )
    if proof.code_id is not None and credential is not None:
        tokens = await _sign_in(deps, credential, source, proof)
        if tokens is not None:
            return credential.member_id, tokens
    raise _wrong_code()


async def _sign_in(
    deps: IdentityDeps, checked: Credential, source: str, code: codes.CodeProof | None = None
) -> Tokens | None:
    """Tokens for a member whose password (or `code`, used up here) was checked, unless it
    closed or changed its password meanwhile; the source is remembered as one the member
    signs in from."""
    async with db.transaction(deps.pool) as conn:
        current = await credentials.hold_for_sign_in(conn, checked.member_id)
        if (
            current is None
            or not rules.is_open(current.status)
            or current.password_hash != checked.password_hash
        ):
            return None
        if code is not None:
            await code.spend(deps, conn, _wrong_code)
        await credentials.remember_source(conn, checked.member_id, source, deps.now())
        return await issue(deps, conn, checked.member_id)


async def forget_old_sources(deps: IdentityDeps) -> int:
    """Sign-in sources older than the known-source window stop counting: delete them."""
    before = deps.now() - dt.timedelta(days=deps.settings.login_known_source_days)
    async with deps.pool.acquire() as conn:
        return await credentials.forget_sources_before(conn, before)


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
            # The thief may hold access tokens of the member too: every service voids those
            # issued until now (kit.revocations).
            revoked = ev.MemberSessionsRevoked(
                member_id=str(token.member_id),
                cause=ev.SESSIONS_REVOKED_CAUSE_REFRESH_TOKEN_REUSED,
                revoked_time=timestamps.to_proto(deps.now()),
            )
            await deps.outbox.add(conn, token.member_id, revoked)
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
