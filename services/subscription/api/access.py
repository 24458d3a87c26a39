"""Who may call what in subscription: operators (`subscription:admin`), storefronts
(`subscription:checkout`) and members acting on themselves; and the audit trail of operator
actions."""

from __future__ import annotations

import uuid

from services.kit import audit, auth, errors

ADMIN = "subscription:admin"
CHECKOUT = "subscription:checkout"


def require_any(*scopes: str) -> auth.Principal:
    """An operator or service holding one of `scopes` (members never)."""
    principal = auth.require()
    if principal.kind == "member" or not principal.scopes.intersection(scopes):
        raise errors.permission_denied("MISSING_SCOPE", f"requires one of {', '.join(scopes)}")
    return principal


def member_or_scope(*scopes: str) -> auth.Principal:
    """A member (checked against what it asks for once that is read: `Principal.owns`), or an
    operator or service holding one of `scopes`."""
    principal = auth.require()
    if principal.kind != "member" and not principal.scopes.intersection(scopes):
        raise errors.permission_denied("MISSING_SCOPE", f"requires one of {', '.join(scopes)}")
    return principal


def member_target(raw_member_id: str, *scopes: str) -> uuid.UUID:
    """The member a call acts on: authenticated, authorised, then the id parsed; a member
    acts only on itself (NOT_OWNER)."""
    principal = member_or_scope(*scopes)
    member_id = errors.parse_uuid(raw_member_id)
    if not principal.owns(member_id):
        raise errors.permission_denied("NOT_OWNER", "a member may act only on itself")
    return member_id


async def record(conn, principal: auth.Principal, action: str, subject: object, **detail) -> None:
    await audit.record(
        conn,
        actor=principal.label,
        action=f"subscription.{action}",
        subject=str(subject),
        detail=detail,
    )
