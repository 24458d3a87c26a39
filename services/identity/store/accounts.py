"""Linked external accounts: one subject belongs to one member, one account per provider."""

from __future__ import annotations

import uuid

from services.kit import db


class AccountLinkedElsewhere(db.Duplicate):
    """The provider's subject is linked to a member already (this one or another)."""


class ProviderAlreadyLinked(db.Duplicate):
    """The member has an account of this provider linked already."""


_LINK = {
    "linked_accounts_pkey": AccountLinkedElsewhere,
    "linked_accounts_member_id_provider_key": ProviderAlreadyLinked,
}


async def link(conn, member_id: uuid.UUID, provider: str, subject: str) -> None:
    with db.duplicates(_LINK):
        async with conn.transaction():  # a savepoint: the caller's transaction survives
            await conn.execute(
                "INSERT INTO linked_accounts (provider, subject, member_id) VALUES ($1, $2, $3)",
                provider,
                subject,
                member_id,
            )


async def unlink(conn, member_id: uuid.UUID, provider: str) -> bool:
    """Whether an account of the provider was linked (and is not any more)."""
    result = await conn.execute(
        "DELETE FROM linked_accounts WHERE member_id = $1 AND provider = $2", member_id, provider
    )
    return result != "DELETE 0"
