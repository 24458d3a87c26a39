"""AIP-155 request ids: the first response is stored with the change and replayed."""

from __future__ import annotations

import copy
import functools
import hashlib
import uuid
from collections.abc import Awaitable, Callable
from typing import Generic, NamedTuple, TypeVar, cast

import asyncpg
from google.protobuf import descriptor, message_factory
from google.protobuf.message import Message

from . import auth, db, errors, ids

R = TypeVar("R", bound=Message)


class Pending(NamedTuple, Generic[R]):
    """What a work may return instead of a response: the response and writes not sent yet. They
    go with the stored response in one round trip (the change and its record stay atomic)."""

    response: R
    writes: db.Batch


# Whom a stored response is about: an id, a function of the response, or nobody in particular.
Subject = str | uuid.UUID | Callable[[R], object] | None


async def erase(conn: asyncpg.Connection, subject: object) -> int:
    """Forget the stored responses about `subject` (a member erased at closing): a replay of
    one runs the call again, which then answers as the subject is now."""
    status = await conn.execute("DELETE FROM idempotency WHERE subject = $1", str(subject))
    return int(status.split()[-1])


# Fields whose values must not be kept even as a hash: the fingerprint is a fast, unsalted
# hash, so a password in it could be found by guessing. Two requests differing only in these
# count as the same request (its replay answers as the first did).
SECRET_FIELDS = frozenset(
    {
        "password",
        "client_secret",
        "refresh_token",
        "verification_code",
        "phone_verification_code",
        "email_verification_code",
        "assertion",
        "provider_assertion",
        "pin",
        "code",  # a redemption code
        "codes",  # partner codes uploaded to a perk pool
    }
)


def fingerprint(method: str, request: Message) -> bytes:
    """What makes two requests "the same": the method and every field of the request but its
    secrets (SECRET_FIELDS, at any depth: a card's PIN inside a list of payment sources)."""
    if _has_secret(request.DESCRIPTOR, set()):
        request = copy.deepcopy(request)
        _clear_secrets(request)
    return hashlib.sha256(
        method.encode() + b"\0" + request.SerializeToString(deterministic=True)
    ).digest()


def _has_secret(descriptor, seen: set) -> bool:
    """Whether a message type holds a secret field anywhere (its types walked once)."""
    if descriptor.full_name in seen:
        return False
    seen.add(descriptor.full_name)
    return any(
        f.name in SECRET_FIELDS
        or (f.message_type is not None and _has_secret(f.message_type, seen))
        for f in descriptor.fields
    )


def _clear_secrets(message: Message) -> None:
    for field, value in message.ListFields():
        if field.name in SECRET_FIELDS:
            message.ClearField(field.name)
        elif field.message_type is not None and not field.message_type.GetOptions().map_entry:
            for item in value if field.is_repeated else [value]:
                _clear_secrets(item)


async def run_once(
    pool: asyncpg.Pool,
    method: str,
    request: Message,
    response_class: type[R],
    work: Callable[[asyncpg.Connection], Awaitable[R | Pending[R]]],
    stored: Callable[[R], R] | None = None,
    subject: Subject[R] = None,
) -> R:
    """Run `work` in a transaction at most once per caller and `request.request_id`.

    The key row is inserted first: a concurrent call with the same id blocks on it until the
    first commits (then replays) or rolls back (then does the work itself). A failed call stores
    nothing, so a retry with the same id runs again. A work returning `Pending` has its last
    writes sent with the stored response. `stored` strips what must not be kept
    (a secret shown once) from the response that replays return.

    The id belongs to the caller (`auth.actor()`): another caller's same id is another key, so
    nobody replays or squats someone else's request. `subject` (an id, or a function of the
    response) names whom the stored response is about, for `erase`.
    """
    request_id: str = getattr(request, "request_id", "")
    if not request_id:
        raise errors.invalid([("request_id", "required")])
    if ids.identifier(request_id) is None:
        raise errors.invalid(
            [("request_id", "at most 128 characters: letters, digits and . _ : / @ + = -")]
        )
    digest = fingerprint(method, request)
    principal = auth.actor("anonymous")
    async with pool.acquire() as conn, conn.transaction():
        inserted = await conn.fetchval(
            "INSERT INTO idempotency (principal, request_id, method, request_hash)"
            " VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING true",
            principal,
            request_id,
            method,
            digest,
        )
        if not inserted:
            row = await conn.fetchrow(
                "SELECT request_hash, response FROM idempotency"
                " WHERE principal = $1 AND request_id = $2",
                principal,
                request_id,
            )
            if row["request_hash"] != digest:
                raise errors.invalid(
                    [("request_id", "already used for a different request")], "REQUEST_ID_REUSED"
                )
            return response_class.FromString(row["response"])
        result = await work(conn)
        response, writes = result if isinstance(result, Pending) else (result, db.Batch())
        about = subject(response) if callable(subject) else subject
        await writes.execute(
            "UPDATE idempotency SET response = $3, subject = $4"
            " WHERE principal = $1 AND request_id = $2",
            principal,
            request_id,
            (stored(response) if stored else response).SerializeToString(deterministic=True),
            str(about) if about is not None else None,
        )
        await writes.run(conn)
        return response


@functools.cache
def _method_of(request: descriptor.Descriptor) -> tuple[str, type[Message]]:
    """The RPC that takes `request` (its name, as run_once keys it) and its response class."""
    for service in request.file.services_by_name.values():
        for method in service.methods:
            if method.input_type is request:
                return method.name, message_factory.GetMessageClass(method.output_type)
    raise LookupError(f"no RPC in {request.file.name} takes {request.full_name}")


async def once(
    pool: asyncpg.Pool,
    request: Message,
    work: Callable[[asyncpg.Connection], Awaitable[R | Pending[R]]],
    stored: Callable[[R], R] | None = None,
    subject: Subject[R] = None,
) -> R:
    """run_once for a servicer method: the method and the response type come from the request's
    proto descriptor (the one RPC of the request's file that takes it); the answer has the type
    `work` returns (a replay is parsed into that RPC's response class, which is the same)."""
    method, response_class = _method_of(request.DESCRIPTOR)
    # The RPC's response class is the class `work` builds: the descriptor cannot tell mypy so.
    return await run_once(
        pool, method, request, cast(type[R], response_class), work, stored, subject
    )
