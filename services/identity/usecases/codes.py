"""One-time codes: sending one to a phone number or an e-mail address, and checking one given
back in a request.

A code is checked in two steps, because a wrong try must count even when the call then fails
(its transaction rolls back), and a replayed request must still get its first answer: `check`
counts the try and compares, before the request's transaction; `CodeProof.spend` uses a right
code up in that transaction, or raises the call's refusal (inside it, so that a replay of a
request that succeeded is answered from its stored response instead)."""

from __future__ import annotations

import asyncio
import datetime as dt
import hmac
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from services.kit import db, errors, ids

from ..deps import IdentityDeps
from ..domain import codes as rules
from ..domain.codes import Purpose
from ..store import codes
from ..verification import OutgoingCode, SendFailed

# How long a sender may take before the caller is told to ask again.
SEND_TIMEOUT_SECONDS = 10


@dataclass(frozen=True)
class Address:
    """Where a code goes: a phone number (E.164) by SMS or an e-mail address (normalised)."""

    channel: str  # "sms" | "email"
    value: str

    @classmethod
    def of(cls, *, phone: str | None, email: str | None) -> Address | None:
        """The phone number if there is one, else the e-mail address."""
        if phone:
            return cls("sms", phone)
        return cls("email", email) if email else None


def _key(deps: IdentityDeps, address: Address) -> str:
    """The address as codes and rate limits keep it: a keyed hash, as for registrations."""
    return deps.pseudonym("identifier", address.value)


def _hash(deps: IdentityDeps, code_id: uuid.UUID, code: str) -> bytes:
    return deps.vault.lookup_hash(f"verification-code:{code_id}:{code}")


async def send(deps: IdentityDeps, address: Address, purpose: Purpose, source: str) -> dt.datetime:
    """Sends a new code for `purpose` to `address` and returns when it expires; the address's
    earlier code for that purpose stops working. Whether the address belongs to a member is
    never looked at: the answer, and the work done, are the same either way. Limited per
    address and per caller."""
    limits = deps.limits
    key = _key(deps, address)
    await deps.limiter.take(
        *((limit, key) for limit in limits.codes_address),
        (limits.codes_source, deps.pseudonym("source", source)),
        message="too many codes asked for; try again later",
    )
    code, code_id = rules.new_code(), ids.new_id()
    expires = deps.now() + dt.timedelta(seconds=deps.settings.verification_code_ttl_seconds)
    async with db.transaction(deps.pool) as conn:
        await codes.replace(
            conn,
            code_id=code_id,
            address=key,
            purpose=purpose,
            code_hash=_hash(deps, code_id, code),
            expires_at=expires,
        )
    message = OutgoingCode(address.channel, address.value, code, purpose, expires)
    try:  # after the commit: the code works once it arrives
        await asyncio.wait_for(deps.codes.send(message), SEND_TIMEOUT_SECONDS)
    except (SendFailed, TimeoutError) as exc:
        raise errors.unavailable("CODE_NOT_SENT", "the code could not be sent; ask again") from exc
    return expires


@dataclass(frozen=True)
class CodeProof:
    """A code given in a request, tried: the code it matched, or None (wrong, expired, used,
    replaced, tried too often, or never sent)."""

    code_id: uuid.UUID | None

    async def spend(self, deps: IdentityDeps, conn, refusal: Callable[[], errors.AppError]) -> None:
        """Uses the code up in the caller's transaction, or raises `refusal()`."""
        if self.code_id is None or not await codes.use(conn, self.code_id, deps.now()):
            raise refusal()


async def check(deps: IdentityDeps, address: Address, purpose: Purpose, code: str) -> CodeProof:
    """Tries `code` against the address's latest code for `purpose`: the try is counted first
    (committed on its own), then compared. A code takes at most
    IDENTITY_VERIFICATION_CODE_ATTEMPTS tries, right or wrong."""
    live = await codes.try_latest(
        deps.pool,
        _key(deps, address),
        purpose,
        deps.now(),
        deps.settings.verification_code_attempts,
    )
    if live is None or not hmac.compare_digest(live.code_hash, _hash(deps, live.code_id, code)):
        return CodeProof(None)
    return CodeProof(live.code_id)


async def forget_expired(deps: IdentityDeps) -> int:
    async with deps.pool.acquire() as conn:
        return await codes.forget_expired(conn, deps.now())
