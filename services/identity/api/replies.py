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
    """Runs `change(conn)` (a use case) in the transaction that stores the response, which is
    about the member (it carries their profile): closing the member erases it."""

    async def work(conn: asyncpg.Connection) -> R:
        return response_class(member=convert.member(await change(conn), deps.vault))

    def member_of(response: R) -> str:
        return response.member.member_id  # type: ignore[attr-defined]

    return await idempotency.once(deps.pool, request, work, subject=member_of)
