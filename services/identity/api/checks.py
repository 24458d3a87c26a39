"""What every RPC does before validating: authorise (for a call on one member, before its id
is even parsed), refuse repeated fields that are too long before reading any item; and the
checks of a request id for RPCs that do costly work before `idempotency.once` would."""

from __future__ import annotations

import uuid
from collections.abc import Sized

import grpc

from services.kit import auth, errors, ids, ratelimit
from services.kit.errors import Violations


def member_target(raw_member_id: str, scope: str) -> uuid.UUID:
    """The member a call acts on: authenticated, then authorised (an operator or a service
    needs `scope`; a member may act only on itself), the id parsed in between."""
    auth.require_owner_or_scope(scope)  # no token, or a client without the scope
    member_id = errors.parse_uuid(raw_member_id)
    auth.require_member_or_scope(member_id, scope)  # another member's id
    return member_id


def at_most(field_path: str, items: Sized, maximum: int, minimum: int = 0) -> None:
    """Refuse a repeated field with too many items at once, from its length alone."""
    if not minimum <= len(items) <= maximum:
        raise errors.invalid([(field_path, f"{minimum} to {maximum} items")])


def request_id(v: Violations, value: str) -> None:
    """The AIP-155 request id, checked with the rest of a request whose RPC does costly work
    (hashing, asking a verifier, counting an attempt) before `idempotency.once` checks it."""
    if not value:
        v.add("request_id", "required")
    elif ids.identifier(value) is None:
        v.add("request_id", "at most 128 characters: letters, digits and . _ : / @ + = -")


def source(context: grpc.aio.ServicerContext) -> str:
    """The caller, for rate limits per caller (see kit.ratelimit.source)."""
    return ratelimit.source(context.peer(), auth.current.get())
