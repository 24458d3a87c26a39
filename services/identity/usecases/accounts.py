"""Linking and unlinking external accounts (WeChat, QQ, …): the account linked is the one its
provider asserts, never one the caller names."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass

from loyalty.identity.v1 import events_pb2 as ev
from services.kit import errors, timestamps

from ..deps import IdentityDeps
from ..domain import accounts as rules
from ..store import accounts
from ..store.members import MemberRow
from ..verification import AssertionRejected, ProviderNotConfigured, ProviderUnavailable
from .members import changed, open_for_change

# How long a provider may take to answer before the caller is told to try again.
ASSERTION_TIMEOUT_SECONDS = 10


@dataclass(frozen=True)
class AccountProof:
    """The provider's verdict on an assertion: the subject it vouches for, or why not. Reached
    before the request's transaction (the provider may be a remote service, and may take an
    assertion only once) and raised only inside it, so that a replay of a request that
    succeeded is answered from its stored response."""

    provider: str
    subject: str | None
    refusal: errors.AppError | None = None

    def vouched(self, expected: str = "") -> str:
        """The asserted subject; raises the refusal, or ASSERTION_REJECTED when the caller
        expected another subject."""
        if self.refusal is not None or self.subject is None:
            raise self.refusal or _rejected()
        if expected and expected != self.subject:
            raise _rejected()
        return self.subject


def _rejected() -> errors.AppError:
    return errors.failed_precondition(
        "ASSERTION_REJECTED", "the provider does not vouch for this account"
    )


async def assert_account(deps: IdentityDeps, provider: str, assertion: str) -> AccountProof:
    """Asks the provider's verifier (deps.assertions) whose account `assertion` is."""
    try:
        subject = await asyncio.wait_for(
            deps.assertions.subject(provider, assertion), ASSERTION_TIMEOUT_SECONDS
        )
    except AssertionRejected:
        return AccountProof(provider, None, _rejected())
    except ProviderNotConfigured:
        refusal = errors.failed_precondition(
            "PROVIDER_NOT_CONFIGURED", f"{provider} accounts are not accepted here"
        )
        return AccountProof(provider, None, refusal)
    except (ProviderUnavailable, TimeoutError):
        refusal = errors.unavailable("PROVIDER_UNAVAILABLE", f"{provider} did not answer")
        return AccountProof(provider, None, refusal)
    if not subject or len(subject) > rules.SUBJECT_MAX:  # a verifier's bug: trust nothing
        return AccountProof(provider, None, _rejected())
    return AccountProof(provider, subject)


async def count_link_attempt(deps: IdentityDeps, member_id: uuid.UUID, source: str) -> None:
    """Linking is limited per member and per caller."""
    limits = deps.limits
    await deps.limiter.take(
        (limits.link_member, f"member:{member_id}"),
        (limits.link_source, deps.pseudonym("source", source)),
    )


async def link(
    deps: IdentityDeps, conn, member_id: uuid.UUID, proof: AccountProof, expected: str = ""
) -> MemberRow:
    """Links the account `proof` vouches for (`expected`: the subject the caller named, if any)."""
    await open_for_change(conn, member_id)
    subject = proof.vouched(expected)
    await link_new(deps, conn, member_id, proof.provider, subject)
    return await changed(deps, conn, member_id, "member.link", provider=proof.provider)


async def link_new(
    deps: IdentityDeps, conn, member_id: uuid.UUID, provider: str, subject: str
) -> None:
    """Stores the link and queues member.account_linked (the caller audits)."""
    try:
        await accounts.link(conn, member_id, provider, subject)
    except accounts.AccountLinkedElsewhere as exc:
        raise errors.already_exists(
            "ACCOUNT_ALREADY_LINKED", "this external account is linked already"
        ) from exc
    except accounts.ProviderAlreadyLinked as exc:
        raise errors.failed_precondition(
            "PROVIDER_ALREADY_LINKED", "the member already linked this provider"
        ) from exc
    event = ev.MemberAccountLinked(
        member_id=str(member_id), provider=provider, linked_time=timestamps.to_proto(deps.now())
    )
    await deps.outbox.add(conn, member_id, event)


async def unlink(deps: IdentityDeps, conn, member_id: uuid.UUID, provider: str) -> MemberRow:
    row = await open_for_change(conn, member_id)
    if not await accounts.unlink(conn, member_id, provider):
        raise errors.not_found("linked_account", provider)
    # Refused after the delete, which the caller's transaction then rolls back: an account
    # that is not linked is NOT_FOUND before it is anything else.
    if not rules.keeps_a_sign_in_method(
        has_password=row.has_password, linked_before=len(row.linked)
    ):
        raise errors.failed_precondition("LAST_SIGN_IN_METHOD", "no way to sign in would remain")
    event = ev.MemberAccountUnlinked(
        member_id=str(member_id), provider=provider, unlinked_time=timestamps.to_proto(deps.now())
    )
    return await changed(deps, conn, member_id, "member.unlink", event, provider=provider)
