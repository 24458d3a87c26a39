"""Who may call what in giftcard: scopes as roles (`giftcard:<role>`), the back office, the
operators who may see full card numbers, and the audit trail of operator actions."""

from __future__ import annotations

import uuid

from services.kit import audit, auth, errors

from ..domain.approvals import Role

OPERATOR = "giftcard:operator"  # freeze, cancel, replace, extend; sees full card numbers
CHECKOUT = "giftcard:checkout"  # a storefront's service client
# The approval roles (domain.approvals.Role), as scopes.
REQUESTER = "giftcard:requester"
APPROVER = "giftcard:approver"
MANAGER = "giftcard:manager"
LOADER = "giftcard:loader"
REVIEWER = "giftcard:reviewer"
SALES = "giftcard:sales"
FINANCE = "giftcard:finance"
BACK_OFFICE = (REQUESTER, APPROVER, MANAGER, LOADER, REVIEWER, SALES, FINANCE, OPERATOR)
# Who sees full card numbers: operators, and the loader and reviewer who compare them with
# the printed cards. Everyone else sees the masked form.
SEES_NUMBERS = frozenset({OPERATOR, LOADER, REVIEWER})


def require_any(*scopes: str) -> auth.Principal:
    """An operator or service holding one of `scopes` (members never)."""
    principal = auth.require()
    if principal.kind == "member" or not principal.scopes.intersection(scopes):
        raise errors.permission_denied("MISSING_SCOPE", f"requires one of {', '.join(scopes)}")
    return principal


def member_or_checkout() -> auth.Principal:
    """A member (acting on itself) or a storefront's checkout client."""
    return member_or_scope(CHECKOUT)


def member_or_scope(*scopes: str) -> auth.Principal:
    """A member (checked against what it asks for once that is read: `Principal.owns`), or
    an operator or service holding one of `scopes`."""
    principal = auth.require()
    if principal.kind != "member" and not principal.scopes.intersection(scopes):
        raise errors.permission_denied("MISSING_SCOPE", f"requires one of {', '.join(scopes)}")
    return principal


def back_office() -> auth.Principal:
    return require_any(*BACK_OFFICE)


def roles(principal: auth.Principal) -> frozenset[Role]:
    """The approval roles a token holds (its `giftcard:<role>` scopes)."""
    return frozenset(r for r in Role if f"giftcard:{r}" in principal.scopes)


def sees_numbers(principal: auth.Principal | None) -> bool:
    return (
        principal is not None
        and principal.kind != "member"
        and bool(principal.scopes & SEES_NUMBERS)
    )


async def record(
    conn,
    principal: auth.Principal,
    action: str,
    subject: uuid.UUID | str,
    *,
    role: str = "",
    reason: str = "",
    **detail: object,
) -> None:
    """An operator action in the kit's append-only audit trail: who (and in which role), when,
    what, on what, why."""
    await audit.record(
        conn,
        actor=principal.label,
        action=f"giftcard.{action}",
        subject=subject,
        detail={"role": role, "reason": reason, **detail},
    )
