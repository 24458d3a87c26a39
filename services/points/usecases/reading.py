"""Reads callers make: balances, history, holds, merchant budgets (one connection, no lock)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable

from services.kit import errors

from ..domain.members import Balance
from ..store import budgets, journal, members
from ..store.budgets import MerchantBudget
from ..store.holds import Hold
from ..store.journal import Entry
from .accounts import Accounts


class Reading:
    def __init__(self, accounts: Accounts) -> None:
        self.accounts = accounts
        self.deps = accounts.deps

    async def balance(self, member_id: uuid.UUID) -> Balance:
        async with self.deps.pool.acquire() as conn:
            return await self.accounts.balance(conn, member_id)

    async def history(
        self,
        member_id: uuid.UUID,
        *,
        kind: str | None,
        start: dt.datetime | None,
        end: dt.datetime | None,
        before: int | None,
        limit: int,
    ) -> list[Entry]:
        """A page of the member's postings on their own buckets, newest first."""
        async with self.deps.pool.acquire() as conn:
            if await members.get(conn, member_id) is None:
                raise errors.not_found("member", str(member_id))
            return await journal.history(
                conn, member_id, kind=kind, start=start, end=end, before=before, limit=limit
            )

    async def hold(self, hold_id: uuid.UUID, owns: Callable[[uuid.UUID], bool]) -> Hold:
        """A hold the caller may see (`owns` its member); another member's is not found."""
        async with self.deps.pool.acquire() as conn:
            return await self.accounts.visible_hold(conn, hold_id, owns)

    async def budget(self, merchant_id: str) -> MerchantBudget:
        async with self.deps.pool.acquire() as conn:
            found = await budgets.get(conn, merchant_id)
        if found is None:
            raise errors.not_found("merchant_budget", merchant_id)
        return found
