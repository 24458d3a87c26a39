"""Expiry: lots past their date, holds past their time, notices of points expiring soon."""

from __future__ import annotations

import datetime as dt
import uuid

from ..domain import lots, postings
from ..domain.holds import HoldState, ReleaseReason
from ..domain.postings import Transaction
from ..store import holds
from ..store import lots as lot_store
from . import events
from .accounts import Accounts, Writes
from .spending import Spending


class Expiry:
    def __init__(self, accounts: Accounts, spending: Spending) -> None:
        self.accounts = accounts
        self.spending = spending

    async def members_with_expired_lots(
        self, conn, now: dt.datetime, limit: int
    ) -> list[uuid.UUID]:
        return await lot_store.members_with_expired(conn, now, limit)

    async def expire(
        self, conn, member_id: uuid.UUID, now: dt.datetime, writes: Writes | None = None
    ) -> int:
        """Remove what is left of the member's lots that expired by `now`; returns the points."""
        row = await self.accounts.member(conn, member_id)
        due = await lot_store.expired(conn, member_id, now)
        total = sum(lot.remaining for lot in due)
        if total == 0:
            return 0
        async with self.accounts.writing(conn, writes, row) as batch:
            await lot_store.take(batch, [lots.Allocation(lot.lot_id, lot.remaining) for lot in due])
            batch.lots_changed([(lot.expires_at, -lot.remaining) for lot in due])
            txn = Transaction(postings.EXPIRE, member_id, reason="lots expired")
            postings.debit(txn, member_id, total, (postings.EXPIRY, ""), postings.EXPIRE)
            txn_id = await self.accounts.post(conn, batch, txn, now)
            await self.accounts.publish(
                batch, member_id, events.expired(member_id, total, len(due), txn_id, now)
            )
        return total

    async def timed_out_holds(self, conn, now: dt.datetime, limit: int) -> list[uuid.UUID]:
        return await holds.timed_out(conn, now, limit)

    async def time_out(self, conn, hold_id: uuid.UUID) -> bool:
        """Expire a hold past its time; False when it was no longer held."""
        before = await holds.get(conn, hold_id)
        after = await self.spending.release(conn, hold_id, ReleaseReason.TIMED_OUT)
        held = before is not None and before.state is HoldState.HELD
        return held and after.state is HoldState.EXPIRED

    async def notify_expiring(self, conn, now: dt.datetime, limit: int) -> int:
        """Publish points.expiring for up to `limit` lots expiring within the notice window,
        once per lot; returns how many events (one per member and moment of expiry)."""
        until = now + dt.timedelta(days=self.accounts.settings.expiring_notice_days)
        groups = await lot_store.claim_expiring(conn, now, until, limit)
        for group in groups:
            await self.accounts.outbox.add(conn, group.member_id, events.expiring(group))
        return len(groups)
