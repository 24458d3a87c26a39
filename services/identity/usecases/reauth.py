"""A member proving it is itself again, beyond its access token, before an irreversible act
(closing its account): a token may be stolen, or a device left signed in."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from services.kit import errors

from ..deps import IdentityDeps
from ..domain import member as rules
from ..domain.codes import Purpose
from ..store import credentials
from . import codes


def _failed() -> errors.AppError:
    return errors.permission_denied(
        "REAUTHENTICATION_FAILED",
        "the password (or, for a member without one, the code) is wrong",
    )


@dataclass(frozen=True)
class Reauthenticated:
    """The verdict, reached before the act's transaction and enforced inside it (`confirm`),
    so that a replay of a request that succeeded gets its stored answer."""

    refusal: errors.AppError | None = None
    code: codes.CodeProof | None = None

    async def confirm(self, deps: IdentityDeps, conn) -> None:
        """Raises the refusal, or uses the code up in the caller's transaction."""
        if self.refusal is not None:
            raise self.refusal
        if self.code is not None:
            await self.code.spend(deps, conn, _failed)


PROVEN = Reauthenticated()  # also what an operator or a service needs: nothing more


async def check(
    deps: IdentityDeps, member_id: uuid.UUID, password: str, code: str
) -> Reauthenticated:
    """A member with a password proves itself with it (wrong ones are limited per member:
    IDENTITY_REAUTH_FAILURES_PER_MEMBER_HOUR, counted before the check and given back by a
    success); one without, with a code sent to its phone number, else its e-mail address
    (purpose CLOSE_MEMBER). An unknown or closed member has nothing to prove: the act then
    answers NOT_FOUND, or changes nothing."""
    async with deps.pool.acquire() as conn:
        own = await credentials.own_proof(conn, member_id)
    if own is None or not rules.is_open(own.status):
        return PROVEN
    if own.password_hash is not None:
        if not password:
            return Reauthenticated(_failed())
        limits = deps.limits
        taken = await deps.limiter.take((limits.reauth_member, f"member:{member_id}"))
        # No connection is held while the password is hashed.
        if not await deps.passwords.verify(own.password_hash, password):
            return Reauthenticated(_failed())
        await deps.limiter.give_back(taken)
        return PROVEN
    address = codes.Address.of(phone=own.phone, email=own.email)
    if not code or address is None:
        return Reauthenticated(_failed())
    return Reauthenticated(code=await codes.check(deps, address, Purpose.CLOSE_MEMBER, code))
