"""Who may call what in growth: operators (`growth:admin`, which may do whatever `growth:read`
may), storefronts' backends (`growth:read`) and members reading themselves; and the audit trail
of operator actions."""

from __future__ import annotations

import uuid

from services.kit import audit, auth, errors

ADMIN = "growth:admin"
READ = "growth:read"


def require_any(*scopes: str) -> auth.Principal:
    """An operator or service holding one of `scopes` (members never)."""
    principal = auth.require()
    if principal.kind == "member" or not principal.scopes.intersection(scopes):
        raise errors.permission_denied("MISSING_SCOPE", f"requires one of {', '.join(scopes)}")
    return principal


def member_target(raw_member_id: str) -> uuid.UUID:
    """The member a read is about: a member's own token, or `growth:read` / `growth:admin`;
    authenticated, authorised, then the id parsed (a member reads only itself: NOT_OWNER)."""
    principal = auth.require()
    if principal.kind != "member" and not principal.scopes.intersection((READ, ADMIN)):
        raise errors.permission_denied("MISSING_SCOPE", f"requires one of {READ}, {ADMIN}")
    member_id = errors.parse_uuid(raw_member_id)
    if not principal.owns(member_id):
        raise errors.permission_denied("NOT_OWNER", "a member may read only itself")
    return member_id


async def record(conn, principal: auth.Principal, action: str, subject: object, **detail) -> None:
    await audit.record(
        conn, actor=principal.label, action=f"growth.{action}", subject=str(subject), detail=detail
    )
