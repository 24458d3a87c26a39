"""Linking and unlinking external accounts (WeChat, QQ, …)."""

from __future__ import annotations

import uuid

from loyalty.identity.v1 import events_pb2 as ev
from services.kit import errors, timestamps

from ..deps import IdentityDeps
from ..domain import accounts as rules
from ..store import accounts
from ..store.members import MemberRow
from .members import changed, open_for_change


async def count_link_attempt(deps: IdentityDeps, member_id: uuid.UUID, source: str) -> None:
    """Linking is limited per member and per caller."""
    limits = deps.limits
    await deps.limiter.take(
        (limits.link_member, f"member:{member_id}"),
        (limits.link_source, deps.pseudonym("source", source)),
    )


async def link(
    deps: IdentityDeps, conn, member_id: uuid.UUID, provider: str, subject: str
) -> MemberRow:
    await open_for_change(conn, member_id)
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
    return await changed(deps, conn, member_id, "member.link", event, provider=provider)


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
