"""How an RPC that changes one member answers: once per request id, with the member as the
change left it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg
from google.protobuf.message import Message

from services.kit import idempotency

from ..deps import IdentityDeps
from ..store.members import MemberRow
from . import convert

R = TypeVar("R", bound=Message)


async def changed_member(
    deps: IdentityDeps,
    request: Message,
    response_class: type[R],
    change: Callable[[asyncpg.Connection], Awaitable[MemberRow]],
) -> R:
    """Runs `change(conn)` (a use case) in the transaction that stores the response."""

    async def work(conn: asyncpg.Connection) -> R:
        return response_class(member=convert.member(await change(conn), deps.vault))

    return await idempotency.once(deps.pool, request, work)
