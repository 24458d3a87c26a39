"""What every RPC does before validating: authorise (for a call on one member, before its id
is even parsed), refuse repeated fields that are too long before reading any item; and the
checks of a request id for RPCs that do costly work before `idempotency.once` would."""

from __future__ import annotations

import grpc

from services.kit import auth, errors, ids, ratelimit
from services.kit.errors import Violations

member_target = auth.member_target  # the kit's, under the name identity's API reads it by
at_most = errors.at_most


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
