"""Reads callers make: balances, history, holds, orders, merchant budgets (one connection, no
lock)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from services.kit import errors

from ..domain.members import Balance
from ..store import budgets, holds, journal, members, parked
from ..store import orders as order_store
from ..store.budgets import MerchantBudget
from ..store.holds import Hold
from ..store.journal import Entry
from ..store.orders import Order, OrderRefund
from ..store.parked import Parked
from .accounts import Accounts


@dataclass(frozen=True)
class OrderView:
    """What points knows of an order: its row (None when only parked events name it), holds,
    refunds and parked events."""

    order_id: str
    member_id: uuid.UUID
    order: Order | None
    holds: list[Hold]
    refunds: list[OrderRefund]
    parked: list[Parked]


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

    async def order(self, order_id: str, owns: Callable[[uuid.UUID], bool]) -> OrderView:
        """An order the caller may see (`owns` its member); another member's is not found. An
        order without order events yet is known by its holds or parked events; parked events
        and holds of another member than the order's (or the caller's) are left out."""
        async with self.deps.pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
            order = await order_store.get(conn, order_id)
            events = [e for e in await parked.of_order(conn, order_id) if owns(e.member_id)]
            held = [h for h in await holds.of_order(conn, order_id) if owns(h.member_id)]
            if order is not None:
                member_id = order.member_id if owns(order.member_id) else None
            else:
                known = [h.member_id for h in held] + [e.member_id for e in events]
                member_id = known[0] if known else None
            if member_id is None:
                raise errors.not_found("order", order_id)
            refunds = await order_store.refunds_of(conn, order_id) if order else []
        return OrderView(
            order_id,
            member_id,
            order,
            [h for h in held if h.member_id == member_id],
            refunds,
            events,
        )

    async def budget(self, merchant_id: str) -> MerchantBudget:
        async with self.deps.pool.acquire() as conn:
            found = await budgets.get(conn, merchant_id)
        if found is None:
            raise errors.not_found("merchant_budget", merchant_id)
        return found
